//! Cutting a raster into square tiles and moving boxes between raster and tile pixel coordinates.
//! Used by the dataset builder (non-overlapping tiles, as the preprint) and by detection (tiles
//! with overlap).

/// A box in pixel coordinates: x0, y0, x1, y1 (column/row edges, x1 > x0, y1 > y0).
pub type PixelBox = [f64; 4];

/// Area of a box (0 when empty).
pub fn area(b: &PixelBox) -> f64 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

/// Intersection of two boxes (may be empty: check with [`area`]).
pub fn intersection(a: &PixelBox, b: &PixelBox) -> PixelBox {
    [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ]
}

/// Intersection over union.
pub fn iou(a: &PixelBox, b: &PixelBox) -> f64 {
    let inter = area(&intersection(a, b));
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Origins (0-based, in pixels) of tiles of `tile` px stepped by `tile − overlap` along an axis of
/// `length` px. The last tile may extend past the end (it is padded): the axis is covered with
/// ⌈(length − overlap)/(tile − overlap)⌉ tiles, at least one.
pub fn tile_origins(length: usize, tile: usize, overlap: usize) -> Vec<usize> {
    let step = tile.saturating_sub(overlap).max(1);
    let mut origins = vec![0];
    while origins[origins.len() - 1] + tile < length {
        origins.push(origins[origins.len() - 1] + step);
    }
    origins
}

/// A box of the raster clipped to the tile at (`col0`, `row0`) of side `tile`, in tile pixel
/// coordinates, with the share of the box's area that remains.
pub fn clip_to_tile(
    b: &PixelBox,
    col0: usize,
    row0: usize,
    tile: usize,
) -> Option<(PixelBox, f64)> {
    let tile_box = [
        col0 as f64,
        row0 as f64,
        (col0 + tile) as f64,
        (row0 + tile) as f64,
    ];
    let clipped = intersection(b, &tile_box);
    let remaining = area(&clipped);
    if remaining <= 0.0 || area(b) <= 0.0 {
        return None;
    }
    Some((
        [
            clipped[0] - col0 as f64,
            clipped[1] - row0 as f64,
            clipped[2] - col0 as f64,
            clipped[3] - row0 as f64,
        ],
        remaining / area(b),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_cover_the_axis() {
        assert_eq!(tile_origins(320, 160, 0), vec![0, 160]);
        assert_eq!(tile_origins(321, 160, 0), vec![0, 160, 320]);
        assert_eq!(tile_origins(100, 160, 0), vec![0]);
        assert_eq!(tile_origins(400, 160, 32), vec![0, 128, 256]);
    }

    #[test]
    fn clipping() {
        let (b, share) = clip_to_tile(&[150.0, 10.0, 170.0, 30.0], 160, 0, 160).unwrap();
        assert_eq!(b, [0.0, 10.0, 10.0, 30.0]);
        assert!((share - 0.5).abs() < 1e-12);
        assert!(clip_to_tile(&[0.0, 0.0, 10.0, 10.0], 160, 0, 160).is_none());
        assert!((iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 0.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-12);
    }
}
