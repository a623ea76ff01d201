//! Georeferenced grids and raster I/O through GDAL.
//!
//! In memory a raster layer is an `ndarray::Array2<f32>` (row-major, north up) with NaN for
//! nodata, paired with the [`Grid`] that places it on the Earth. Files are read and written only
//! in [`io`]; grid alignment (warping with PROJ through GDAL) lives in [`align`].

pub mod align;
pub mod budget;
mod cgroup_memory;
pub mod detector_grid;
pub mod io;
pub mod keys;
pub mod scratch;

use gdal::spatial_ref::SpatialRef;

/// Nodata value written into Float32 outputs (NaN is used in memory).
pub const FLOAT_NODATA: f64 = -9999.0;

/// Coordinate reference system of a grid, with what terrain analysis needs to know about it.
#[derive(Debug, Clone)]
pub struct Crs {
    /// WKT2 definition, as GDAL reports it.
    pub wkt: String,
    /// True for latitude/longitude grids (cell sizes in degrees).
    pub geographic: bool,
    /// Metres per linear unit of a projected CRS (1 for metres, 0.3048 for feet).
    pub metres_per_unit: f64,
    /// Semi-major axis of the ellipsoid, metres.
    pub semi_major: f64,
    /// Semi-minor axis of the ellipsoid, metres.
    pub semi_minor: f64,
}

impl Crs {
    /// Build from a WKT/EPSG/PROJ definition that OSR understands.
    pub fn from_definition(definition: &str) -> std::result::Result<Crs, String> {
        let srs = SpatialRef::from_definition(definition).map_err(|_| {
            format!("'{definition}' is not a coordinate reference system PROJ knows (give e.g. EPSG:32632 or a WKT)")
        })?;
        Crs::from_spatial_ref(&srs)
    }

    pub(crate) fn from_spatial_ref(srs: &SpatialRef) -> std::result::Result<Crs, String> {
        let wkt = srs.to_wkt().map_err(|e| e.to_string())?;
        let geographic = srs.is_geographic();
        if !geographic && !srs.is_projected() {
            return Err(format!(
                "CRS '{}' is neither geographic nor projected",
                srs.name().unwrap_or_default()
            ));
        }
        let metres_per_unit = if geographic { 1.0 } else { srs.linear_units() };
        let semi_major = srs.semi_major().map_err(|e| e.to_string())?;
        let semi_minor = srs.semi_minor().map_err(|e| e.to_string())?;
        Ok(Crs {
            wkt,
            geographic,
            metres_per_unit,
            semi_major,
            semi_minor,
        })
    }

    /// Same CRS (OSR `IsSame`), ignoring naming differences.
    pub fn same_as(&self, other: &Crs) -> bool {
        if self.wkt == other.wkt {
            return true;
        }
        match (
            SpatialRef::from_wkt(&self.wkt),
            SpatialRef::from_wkt(&other.wkt),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// A north-up raster grid: size, affine geotransform (GDAL order) and CRS.
#[derive(Debug, Clone)]
pub struct Grid {
    pub width: usize,
    pub height: usize,
    /// `[x0, pixel_width, 0, y0, 0, pixel_height]`; pixel_height is negative for north-up.
    pub geo_transform: [f64; 6],
    pub crs: Crs,
}

impl Grid {
    /// Map coordinates of a pixel position (column, row), both in pixel units (0.5 = centre).
    pub fn pixel_to_map(&self, col: f64, row: f64) -> (f64, f64) {
        let g = &self.geo_transform;
        (
            g[0] + col * g[1] + row * g[2],
            g[3] + col * g[4] + row * g[5],
        )
    }

    /// Pixel position (column, row) of map coordinates; exact inverse of [`Grid::pixel_to_map`]
    /// for the north-up grids this crate accepts.
    pub fn map_to_pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let g = &self.geo_transform;
        ((x - g[0]) / g[1], (y - g[3]) / g[5])
    }

    /// Bounding box `(xmin, ymin, xmax, ymax)` of the grid's outer edges.
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        let (xa, ya) = self.pixel_to_map(0.0, 0.0);
        let (xb, yb) = self.pixel_to_map(self.width as f64, self.height as f64);
        (xa.min(xb), ya.min(yb), xa.max(xb), ya.max(yb))
    }

    /// The sub-grid of rows `[row0, row0 + rows)` and columns `[col0, col0 + cols)`; rows and
    /// columns may reach outside the grid (for halos), the geotransform is extended accordingly.
    pub fn window(&self, col0: isize, row0: isize, cols: usize, rows: usize) -> Grid {
        let (x0, y0) = self.pixel_to_map(col0 as f64, row0 as f64);
        let mut gt = self.geo_transform;
        gt[0] = x0;
        gt[3] = y0;
        Grid {
            width: cols,
            height: rows,
            geo_transform: gt,
            crs: self.crs.clone(),
        }
    }

    /// Whether rows run north to south and columns west to east (pixel width > 0, pixel height
    /// < 0; rotated grids are refused when opened): the order cells are read and written in.
    pub fn is_north_up(&self) -> bool {
        self.geo_transform[1] > 0.0 && self.geo_transform[5] < 0.0
    }

    /// Same size, same CRS and the same geotransform within 1e-6 of a cell.
    pub fn same_as(&self, other: &Grid) -> bool {
        let g = &self.geo_transform;
        let h = &other.geo_transform;
        let tol = 1e-6 * g[1].abs().max(g[5].abs());
        self.width == other.width
            && self.height == other.height
            && g.iter().zip(h.iter()).all(|(a, b)| (a - b).abs() <= tol)
            && self.crs.same_as(&other.crs)
    }

    /// Metric cell sizes of every row (see [`CellSpacing`]).
    pub fn spacing(&self) -> CellSpacing {
        CellSpacing::of_grid(self)
    }
}

/// Cell sizes in metres, per row. Constant for projected grids (converted from the CRS's linear
/// unit); for geographic grids the local ellipsoidal metric at each row's latitude:
/// dx = N(φ)·cos φ·Δλ and dy = M(φ)·Δφ (N, M the prime-vertical and meridional radii of
/// curvature; e.g. Torge & Müller, Geodesy, §6.2), so slopes on degree grids are true slopes.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSpacing {
    /// East-west cell size of each row, metres.
    pub dx: Vec<f64>,
    /// North-south cell size of each row, metres.
    pub dy: Vec<f64>,
}

impl CellSpacing {
    /// Square cells of `size` metres for `rows` rows.
    pub fn uniform(size: f64, rows: usize) -> Self {
        CellSpacing {
            dx: vec![size; rows],
            dy: vec![size; rows],
        }
    }

    /// Metric spacing of a grid's rows.
    pub fn of_grid(grid: &Grid) -> Self {
        let g = &grid.geo_transform;
        if !grid.crs.geographic {
            let k = grid.crs.metres_per_unit;
            return CellSpacing {
                dx: vec![g[1].abs() * k; grid.height],
                dy: vec![g[5].abs() * k; grid.height],
            };
        }
        let a = grid.crs.semi_major;
        let b = grid.crs.semi_minor;
        let e2 = 1.0 - (b * b) / (a * a);
        let (mut dx, mut dy) = (
            Vec::with_capacity(grid.height),
            Vec::with_capacity(grid.height),
        );
        for row in 0..grid.height {
            let lat = (g[3] + (row as f64 + 0.5) * g[5]).to_radians();
            let w = (1.0 - e2 * lat.sin().powi(2)).sqrt();
            let n = a / w;
            let m = a * (1.0 - e2) / (w * w * w);
            dx.push(n * lat.cos() * g[1].abs().to_radians());
            dy.push(m * g[5].abs().to_radians());
        }
        CellSpacing { dx, dy }
    }

    /// Number of rows described.
    pub fn rows(&self) -> usize {
        self.dy.len()
    }

    /// The spacing of rows `first .. first + count`, which may reach beyond the grid (as a
    /// window padded with nodata does): such rows get the nearest row's spacing.
    pub fn rows_clamped(&self, first: isize, count: usize) -> CellSpacing {
        let last = self.rows().saturating_sub(1) as isize;
        let row = |i: usize| (first + i as isize).clamp(0, last) as usize;
        CellSpacing {
            dx: (0..count).map(|i| self.dx[row(i)]).collect(),
            dy: (0..count).map(|i| self.dy[row(i)]).collect(),
        }
    }

    /// The spacing of rows `[row0, row0 + rows)`.
    pub fn rows_range(&self, row0: usize, rows: usize) -> CellSpacing {
        CellSpacing {
            dx: self.dx[row0..row0 + rows].to_vec(),
            dy: self.dy[row0..row0 + rows].to_vec(),
        }
    }
}

/// A raster layer held in memory: values (NaN = nodata) on a grid.
#[derive(Debug, Clone)]
pub struct Raster {
    pub grid: Grid,
    pub values: ndarray::Array2<f32>,
}

/// Rows per strip in windowed processing: memory stays proportional to width × this.
pub const STRIP_ROWS: usize = 256;

/// Rows warped beyond each side of a strip and cut, so that a strip's edge rows are warped as
/// inner rows (bilinear reads one source cell around).
pub const STRIP_HALO: usize = 2;

/// `(first_row, rows)` of consecutive strips covering `height` rows.
pub fn strips(height: usize, rows_per_strip: usize) -> impl Iterator<Item = (usize, usize)> {
    let step = rows_per_strip.max(1);
    (0..height)
        .step_by(step)
        .map(move |r0| (r0, step.min(height - r0)))
}

/// Smallest and largest finite value of a block, if any.
pub fn finite_range(values: ndarray::ArrayView2<f32>) -> Option<(f32, f32)> {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, &v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}
