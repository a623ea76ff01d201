//! Intermediate rasters of a tiled computation: windows read from any raster, numbered blocks
//! kept between passes, and row-major rasters written strip by strip. Each lives in memory or in
//! an unnamed scratch file (removed by the system when closed, also after a kill), so that a
//! process holds only the tiles it is working on.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};

use crate::error::{Error, Result};

/// Where the tiled routines read their input: any window of a raster, cells outside it NaN.
pub trait WindowSource: Sync {
    /// Rows `row0 .. row0 + rows` and columns `col0 .. col0 + cols`; the part outside the
    /// raster is NaN.
    fn window(&self, row0: isize, col0: isize, rows: usize, cols: usize) -> Result<Array2<f32>>;

    /// (rows, columns) of the raster.
    fn shape(&self) -> (usize, usize);
}

impl WindowSource for ArrayView2<'_, f32> {
    fn window(&self, row0: isize, col0: isize, rows: usize, cols: usize) -> Result<Array2<f32>> {
        let (height, width) = self.dim();
        padded_window(height, width, row0, col0, rows, cols, |r0, c0, mut out| {
            let (h, w) = out.dim();
            out.assign(&self.slice(s![r0..r0 + h, c0..c0 + w]));
            Ok(())
        })
    }

    fn shape(&self) -> (usize, usize) {
        self.dim()
    }
}

impl<T: WindowSource + ?Sized> WindowSource for &T {
    fn window(&self, row0: isize, col0: isize, rows: usize, cols: usize) -> Result<Array2<f32>> {
        (**self).window(row0, col0, rows, cols)
    }

    fn shape(&self) -> (usize, usize) {
        (**self).shape()
    }
}

impl WindowSource for Array2<f32> {
    fn window(&self, row0: isize, col0: isize, rows: usize, cols: usize) -> Result<Array2<f32>> {
        self.view().window(row0, col0, rows, cols)
    }

    fn shape(&self) -> (usize, usize) {
        self.dim()
    }
}

/// A `rows × cols` window at (row0, col0) of a `height × width` raster, NaN outside it;
/// `read(r0, c0, out)` fills the part inside the raster, whose top-left cell is (r0, c0), in
/// place (each of its rows is contiguous).
fn padded_window(
    height: usize,
    width: usize,
    row0: isize,
    col0: isize,
    rows: usize,
    cols: usize,
    read: impl FnOnce(usize, usize, ArrayViewMut2<f32>) -> Result<()>,
) -> Result<Array2<f32>> {
    let mut out = Array2::from_elem((rows, cols), f32::NAN);
    let r_from = row0.max(0);
    let r_to = (row0 + rows as isize).min(height as isize);
    let c_from = col0.max(0);
    let c_to = (col0 + cols as isize).min(width as isize);
    if r_from < r_to && c_from < c_to {
        let (r, c) = ((r_from - row0) as usize, (c_from - col0) as usize);
        let (h, w) = ((r_to - r_from) as usize, (c_to - c_from) as usize);
        read(
            r_from as usize,
            c_from as usize,
            out.slice_mut(s![r..r + h, c..c + w]),
        )?;
    }
    Ok(out)
}

/// A `height × width` f32 raster in an unnamed scratch file, written in strips of whole rows and
/// read back by window.
pub struct ScratchRaster {
    file: File,
    height: usize,
    width: usize,
    dir: PathBuf,
}

impl ScratchRaster {
    /// An empty raster in a scratch file in `dir` (the system's temporary folder when `None`).
    pub fn create(dir: Option<&Path>, height: usize, width: usize) -> Result<Self> {
        let (file, dir) = unnamed_file(dir)?;
        Ok(ScratchRaster {
            file,
            height,
            width,
            dir,
        })
    }

    /// Write whole rows starting at `row0`.
    pub fn write_rows(&self, row0: usize, rows: ArrayView2<f32>) -> Result<()> {
        let values: Vec<f32> = rows.iter().copied().collect();
        let offset = (row0 * self.width * 4) as u64;
        self.file
            .write_all_at(bytemuck::cast_slice(&values), offset)
            .map_err(|e| Error::io(&self.dir, e))
    }
}

impl WindowSource for ScratchRaster {
    fn window(&self, row0: isize, col0: isize, rows: usize, cols: usize) -> Result<Array2<f32>> {
        padded_window(
            self.height,
            self.width,
            row0,
            col0,
            rows,
            cols,
            |r0, c0, mut out| {
                for (i, mut row) in out.rows_mut().into_iter().enumerate() {
                    let offset = (((r0 + i) * self.width + c0) * 4) as u64;
                    let buf = row.as_slice_mut().ok_or_else(|| {
                        Error::parameter("window", "a window row must be contiguous")
                    })?;
                    self.file
                        .read_exact_at(bytemuck::cast_slice_mut(buf), offset)
                        .map_err(|e| Error::io(&self.dir, e))?;
                }
                Ok(())
            },
        )
    }

    fn shape(&self) -> (usize, usize) {
        (self.height, self.width)
    }
}

/// Rows of a raster made on demand in aligned strips (rows `k·strip_rows ..`), the strips a read
/// needs kept until a read starts below them: a producer that is called with the same strips
/// whatever the reads (and so gives the same bits as a file written in those strips), each strip
/// made once while the reads move down the raster, as detection's rows of overlapping tiles do.
///
/// ```
/// use fringewatch::raster::scratch::StripCache;
/// let mut made = Vec::new();
/// let mut cache = StripCache::new(10, 4, 3);
/// let mut make = |row0: usize, rows: usize| {
///     made.push(row0);
///     Ok(ndarray::Array2::from_shape_fn((rows, 3), |(r, c)| ((row0 + r) * 10 + c) as f32))
/// };
/// let rows = cache.rows(2, 5, &mut make)?;
/// assert_eq!(rows[(0, 1)], 21.0);
/// assert_eq!(rows[(4, 2)], 62.0);
/// let last = cache.rows(5, 5, &mut make)?; // rows 5 ..= 9: the strip at 4 is kept
/// assert_eq!(last[(4, 0)], 90.0);
/// assert_eq!(made, [0, 4, 8]);
/// # Ok::<(), fringewatch::Error>(())
/// ```
pub struct StripCache {
    height: usize,
    width: usize,
    strip_rows: usize,
    held: std::collections::VecDeque<(usize, Array2<f32>)>,
}

impl StripCache {
    /// A cache of a `height × width` raster made in strips of `strip_rows` rows.
    pub fn new(height: usize, strip_rows: usize, width: usize) -> Self {
        StripCache {
            height,
            width,
            strip_rows: strip_rows.max(1),
            held: Default::default(),
        }
    }

    /// Rows `row0 .. row0 + rows` (within the raster), the strips they need made by
    /// `make(strip_row0, strip_rows)` unless held.
    pub fn rows(
        &mut self,
        row0: usize,
        rows: usize,
        make: &mut dyn FnMut(usize, usize) -> Result<Array2<f32>>,
    ) -> Result<Array2<f32>> {
        let end = (row0 + rows).min(self.height);
        if end <= row0 {
            return Ok(Array2::zeros((0, self.width)));
        }
        let first = row0 / self.strip_rows * self.strip_rows;
        // strips above the read are done with; a read that moves up starts again
        self.held.retain(|(r, _)| *r >= first);
        if self.held.front().is_some_and(|(r, _)| *r != first) {
            self.held.clear();
        }
        let mut next = self.held.back().map_or(first, |(r, s)| r + s.nrows());
        while next < end {
            let h = self.strip_rows.min(self.height - next);
            let strip = make(next, h)?;
            if strip.dim() != (h, self.width) {
                return Err(Error::parameter(
                    "strip",
                    format!(
                        "a strip of {h} × {} was asked for, {:?} made",
                        self.width,
                        strip.dim()
                    ),
                ));
            }
            self.held.push_back((next, strip));
            next += h;
        }
        let mut out = Array2::from_elem((end - row0, self.width), f32::NAN);
        for (r, strip) in &self.held {
            let (from, to) = (row0.max(*r), end.min(r + strip.nrows()));
            if from < to {
                out.slice_mut(s![from - row0..to - row0, ..])
                    .assign(&strip.slice(s![from - r..to - r, ..]));
            }
        }
        Ok(out)
    }
}

/// Storage for blocks `0..count` of up to `block_len` values each, written and read back by
/// number from several threads.
pub trait BlockStore: Sync {
    /// Keep `values` (at most `block_len` of them) as block `index`.
    fn write(&self, index: usize, values: &[f32]) -> Result<()>;
    /// Read block `index` into `out` (as many values as were written).
    fn read(&self, index: usize, out: &mut [f32]) -> Result<()>;
}

/// Blocks in memory (small rasters, tests).
pub struct MemoryBlocks(Mutex<Vec<Vec<f32>>>);

impl MemoryBlocks {
    /// Room for `count` blocks.
    pub fn new(count: usize) -> Self {
        MemoryBlocks(Mutex::new(vec![Vec::new(); count]))
    }
}

impl BlockStore for MemoryBlocks {
    fn write(&self, index: usize, values: &[f32]) -> Result<()> {
        let mut blocks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        blocks[index] = values.to_vec();
        Ok(())
    }

    fn read(&self, index: usize, out: &mut [f32]) -> Result<()> {
        let blocks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        out.copy_from_slice(&blocks[index][..out.len()]);
        Ok(())
    }
}

/// An unnamed file in `dir` (the system's temporary folder when `None`), and that folder.
fn unnamed_file(dir: Option<&Path>) -> Result<(File, PathBuf)> {
    let dir = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let file = tempfile::tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok((file, dir))
}

/// Blocks in an unnamed scratch file: block `i` at byte `i × block_len × 4`, native endian.
pub struct ScratchFile {
    file: File,
    block_len: usize,
    dir: PathBuf,
}

impl ScratchFile {
    /// A scratch file in `dir` (the system's temporary folder when `None`) for blocks of
    /// `block_len` values. The file has no name: nothing is left behind, even after a kill.
    pub fn create(dir: Option<&Path>, block_len: usize) -> Result<Self> {
        let (file, dir) = unnamed_file(dir)?;
        Ok(ScratchFile {
            file,
            block_len,
            dir,
        })
    }
}

impl BlockStore for ScratchFile {
    fn write(&self, index: usize, values: &[f32]) -> Result<()> {
        let bytes: &[u8] = bytemuck::cast_slice(values);
        let offset = (index * self.block_len * 4) as u64;
        self.file
            .write_all_at(bytes, offset)
            .map_err(|e| Error::io(&self.dir, e))
    }

    fn read(&self, index: usize, out: &mut [f32]) -> Result<()> {
        let offset = (index * self.block_len * 4) as u64;
        self.file
            .read_exact_at(bytemuck::cast_slice_mut(out), offset)
            .map_err(|e| Error::io(&self.dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_back_as_written_in_memory_and_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let file = ScratchFile::create(Some(dir.path()), 5).unwrap();
        let memory = MemoryBlocks::new(3);
        for store in [&file as &dyn BlockStore, &memory] {
            store.write(2, &[1.0, 2.0, 3.0]).unwrap();
            store.write(0, &[9.0; 5]).unwrap();
            store.write(2, &[4.0, f32::NAN, 6.0]).unwrap();
            let mut out = [0.0f32; 3];
            store.read(2, &mut out).unwrap();
            assert_eq!((out[0], out[2]), (4.0, 6.0));
            assert!(out[1].is_nan());
            let mut first = [0.0f32; 5];
            store.read(0, &mut first).unwrap();
            assert_eq!(first, [9.0; 5]);
        }
        // the scratch file has no name in the folder
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_scratch_raster_gives_back_any_window_with_nan_outside() {
        let values = Array2::from_shape_fn((7, 5), |(r, c)| (r * 10 + c) as f32);
        let raster = ScratchRaster::create(None, 7, 5).unwrap();
        raster.write_rows(0, values.slice(s![..4, ..])).unwrap();
        raster.write_rows(4, values.slice(s![4.., ..])).unwrap();
        for (r0, c0, h, w) in [(0, 0, 7, 5), (-2, -1, 4, 3), (5, 3, 4, 4), (2, 1, 2, 2)] {
            let from_file = raster.window(r0, c0, h, w).unwrap();
            let from_memory = values.view().window(r0, c0, h, w).unwrap();
            for ((r, c), v) in from_file.indexed_iter() {
                let (rr, cc) = (r0 + r as isize, c0 + c as isize);
                if (0..7).contains(&rr) && (0..5).contains(&cc) {
                    assert_eq!(*v, (rr * 10 + cc) as f32);
                } else {
                    assert!(v.is_nan());
                }
                assert_eq!(v.to_bits(), from_memory[(r, c)].to_bits());
            }
        }
    }
}
