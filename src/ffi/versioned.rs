//! Structs that can grow: each starts with `size`, the host's `sizeof` of it, as Win32's
//! `cbSize` and Vulkan's versioned structs do. Members are only ever appended (each new one past
//! the previous version's `sizeof`), so a smaller `size` names an older header: the members it
//! covers are the host's, the rest keep their defaults. A `size` that ends inside a member is
//! no version's and is refused. A larger `size`
//! than this library knows means the host was built against a newer header; it is refused
//! rather than its newer members silently ignored.

/// A C struct whose first member is `size: u32`.
pub(crate) trait Versioned: Copy {
    /// The struct's name in the header, for messages.
    const NAME: &'static str;
    /// The byte range (offset, end) of each member, in declaration order.
    fn members() -> Vec<(usize, usize)>;
    /// The value of every member a host did not give.
    fn defaults() -> Self;
}

/// The size in bytes of the member that `get` selects (the closure is never called).
pub(crate) fn member_size<T, F>(_get: fn(&T) -> &F) -> usize {
    std::mem::size_of::<F>()
}

/// The byte ranges (offset, end) of the named members of a `#[repr(C)]` struct.
macro_rules! members {
    ($t:ty; $($m:ident),+ $(,)?) => {
        vec![$({
            let offset = std::mem::offset_of!($t, $m);
            (offset, offset + $crate::ffi::versioned::member_size::<$t, _>(|s: &$t| &s.$m))
        }),+]
    };
}
pub(crate) use members;

use super::ArgumentError;

/// Read a host's struct at `ptr` (NULL: `None`): the members within its `size`, the defaults
/// past it.
///
/// # Safety
/// `ptr` is NULL or points to at least `size` readable bytes, `size` being its first member.
pub(crate) unsafe fn read<T: Versioned>(ptr: *const T) -> Result<Option<T>, ArgumentError> {
    if ptr.is_null() {
        return Ok(None);
    }
    let size = ptr.cast::<u32>().read() as usize;
    let ours = std::mem::size_of::<T>();
    let name = T::NAME;
    if size > ours {
        return Err(ArgumentError(format!(
            "{name}.size is {size} bytes but this library's {name} has {ours}: the host was \
             built against a newer fringewatch.h than this library; update the library"
        )));
    }
    let cuts_a_member = T::members()
        .iter()
        .any(|&(offset, end)| offset < size && size < end);
    if size < std::mem::size_of::<u32>() || cuts_a_member {
        return Err(ArgumentError(format!(
            "{name}.size is {size}, the size of no version of {name} (this library's is \
             {ours}): set it to sizeof({name})"
        )));
    }
    let mut value = T::defaults();
    // SAFETY: `size` ≤ size_of::<T>() and ends between members (or in padding), so whole
    // members of the host's struct overwrite the same members of the defaults.
    std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), (&mut value as *mut T).cast::<u8>(), size);
    Ok(Some(value))
}
