//! Typed errors of the library. Every message names the file (or parameter) and the problem so
//! that a GIS analyst can act on it without reading code.
//!
//! A message that asks for a parameter names it by the library's own name in backticks
//! (`` `overwrite` ``, `` `incidence_deg` ``), never by a command-line flag: the CLI shows it as its
//! flag (`--incidence-deg`), the QGIS plugin and C hosts as their own settings.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong, worded for the person who supplied the input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not exist.
    #[error("{}: file not found", path.display())]
    NotFound { path: PathBuf },

    /// GDAL could not open the file as a raster.
    #[error("{}: not a raster GDAL can read ({reason})", path.display())]
    NotRaster { path: PathBuf, reason: String },

    /// The file was read but its content is unusable for the task.
    #[error("{}: {problem}", path.display())]
    BadInput { path: PathBuf, problem: String },

    /// Two inputs cannot be brought together (no overlap, CRS problems).
    #[error("{} and {}: {problem}", first.display(), second.display())]
    Incompatible {
        first: PathBuf,
        second: PathBuf,
        problem: String,
    },

    /// A parameter value is out of its valid range.
    #[error("invalid parameter {name}: {problem}")]
    Parameter { name: String, problem: String },

    /// The output cannot be written where it was asked for.
    #[error("{}: cannot write output: {problem}", path.display())]
    Output { path: PathBuf, problem: String },

    /// A GDAL call failed while working on a file; `detail` is GDAL's own message (one line).
    #[error("{}: {detail}", path.display())]
    Gdal {
        path: PathBuf,
        detail: String,
        #[source]
        source: gdal::errors::GdalError,
    },

    /// A PROJ call failed.
    #[error("coordinate transformation failed: {0}")]
    Proj(String),

    /// No usable GPU, or the GPU failed (lost device, out of memory).
    #[error("GPU: {0}")]
    Gpu(String),

    /// The caller asked to stop (progress callback returned false).
    #[error("cancelled by the user; no output was written")]
    Cancelled,

    /// Plain I/O failure on a path.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A failed read of `path`: [`Error::NotFound`] when it does not exist, else [`Error::Io`].
    pub fn reading(path: &std::path::Path, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                path: path.to_path_buf(),
            },
            _ => Error::io(path, source),
        }
    }

    /// A plain I/O failure on `path` ([`Error::Io`]); see [`Error::reading`] for reads, where a
    /// missing file is reported as [`Error::NotFound`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn bad_input(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::BadInput {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub fn parameter(name: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Parameter {
            name: name.into(),
            problem: problem.into(),
        }
    }

    /// A failed GDAL call on `path`, worded with GDAL's own message: the error's, else the last
    /// one GDAL recorded on this thread (an OGR error code alone, "returned error: '6'", says
    /// nothing), first line only.
    pub fn gdal(path: impl Into<PathBuf>, source: gdal::errors::GdalError) -> Self {
        Error::Gdal {
            path: path.into(),
            detail: format!("GDAL: {}", gdal_message(&source)),
            source,
        }
    }
}

/// GDAL's own words for a failed call (see [`Error::gdal`]), first line only.
pub fn gdal_message(source: &gdal::errors::GdalError) -> String {
    {
        let first_line = |s: &str| s.lines().next().unwrap_or("").trim().to_string();
        match source {
            gdal::errors::GdalError::CplError { msg, .. }
            | gdal::errors::GdalError::NullPointer { msg, .. }
                if !msg.trim().is_empty() =>
            {
                first_line(msg)
            }
            _ => {
                // SAFETY: returns a pointer to GDAL's thread-local message buffer, copied at once.
                let last = unsafe {
                    let p = gdal_sys::CPLGetLastErrorMsg();
                    if p.is_null() {
                        String::new()
                    } else {
                        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
                    }
                };
                if last.trim().is_empty() {
                    first_line(&source.to_string())
                } else {
                    first_line(&last)
                }
            }
        }
    }
}
