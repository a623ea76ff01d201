//! The training dataset: scenes (simulated, or real ones with a `truth.gpkg`) turned into 160×160
//! tiles of the three-band stack (phase, ISL, PC1 — computed by the production layer code, not by
//! the simulator), YOLO label files, a seeded 80/10/10 split, k-means anchors and a manifest.
//!
//! Layout of a dataset directory:
//! - `layers/<scene>/{isl,pc1,stack}.tif`: the layers of each scene;
//! - `tiles/<scene>_r<row>_c<col>.tif`: Float32 3-band tiles, georeferenced;
//! - `labels/<same name>.txt`: one line per box, `class x_centre y_centre width height`, the
//!   four numbers normalised by the tile size (YOLO format); a sixth field `1` marks a
//!   don't-care box ([`TileLabel::dont_care`]);
//! - `dataset.json`: the [`Manifest`].

pub mod anchors;
pub mod evaluate;

use std::path::{Path, PathBuf};

use ndarray::{s, Array2};
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::evaluate::dont_care::{check_threshold, is_faint};
use crate::layers::{layers_and_stack, RawLayers};
use crate::progress::{Progress, Stage};
use crate::raster::io::{Encoding, GeoTiffWriter, RasterFile};
use crate::sensitivity::layer::Incidence;
use crate::simulate::output::VISIBLE_PEAK_FIELD;
use crate::simulate::SignalClass;
use crate::stack::{read_stack, CHANNELS};
use crate::tiling::{clip_to_tile, tile_origins, PixelBox};
use crate::vector::gpkg::read_layer;

/// Settings of the dataset builder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetSettings {
    /// Tile side, pixels (the preprint: 160 = 2.4 km at 15 m).
    pub tile: usize,
    /// A box cut by a tile edge is kept when at least this share of its area is in the tile.
    pub min_visible_fraction: f64,
    /// Share of tiles without labels kept (the preprint kept labelled tiles only: 0).
    pub empty_tile_fraction: f64,
    /// Train / validation shares (the rest is the test split).
    pub split: (f64, f64),
    /// Seed of the split, the empty-tile choice and the anchor k-means.
    pub seed: u64,
    /// Number of anchors (3 per head).
    pub anchors: usize,
    /// Labels whose signal shows less than this visible peak phase (radians, wrapped, the
    /// `truth.gpkg` field `visible_peak_rad` that `simulate` writes) become don't-care boxes
    /// ([`TileLabel::dont_care`]): a signal under a third of a fringe (2 rad) is one an analyst
    /// may or may not box, so a model is neither taught to find it nor to call it background.
    /// None: every label as it is (the preprint's rule, and the default).
    #[serde(default)]
    pub dont_care_below_rad: Option<f64>,
}

impl Default for DatasetSettings {
    fn default() -> Self {
        DatasetSettings {
            tile: 160,
            min_visible_fraction: 0.4,
            empty_tile_fraction: 0.25,
            split: (0.8, 0.1),
            seed: 0,
            anchors: 9,
            dont_care_below_rad: None,
        }
    }
}

/// The model contract's channel normalisation (defined in [`crate::model::contract`]).
pub use crate::model::contract::ChannelNorm;

/// One tile and its labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TileEntry {
    pub name: String,
    pub scene: String,
    pub row0: usize,
    pub col0: usize,
    pub boxes: usize,
}

/// `dataset.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub classes: Vec<String>,
    /// Anchors (width, height) in pixels, small to large.
    pub anchors: Vec<(f64, f64)>,
    pub channels: Vec<ChannelNorm>,
    pub tile: usize,
    pub train: Vec<TileEntry>,
    pub validation: Vec<TileEntry>,
    pub test: Vec<TileEntry>,
    pub scenes: Vec<String>,
    /// Label counts per class (in class order) for train, validation and test.
    pub class_counts: [[usize; 4]; 3],
    pub settings: DatasetSettings,
}

/// One label in tile pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileLabel {
    pub class: usize,
    pub bbox: PixelBox,
    /// A box neither to find nor to miss (PASCAL VOC's "difficult", Everingham et al. 2010,
    /// §4.4): training does not push the model's score there either way, and scoring counts
    /// neither a detection on it as false nor the box as missed.
    pub dont_care: bool,
}

impl TileLabel {
    /// A box the model is to find.
    pub fn new(class: usize, bbox: PixelBox) -> TileLabel {
        TileLabel {
            class,
            bbox,
            dont_care: false,
        }
    }
}

/// YOLO label line: class, centre and size normalised by the tile side, and ` 1` after them for a
/// don't-care box.
pub fn yolo_line(label: &TileLabel, tile: usize) -> String {
    let t = tile as f64;
    let b = label.bbox;
    format!(
        "{} {:.6} {:.6} {:.6} {:.6}{}",
        label.class,
        (b[0] + b[2]) / 2.0 / t,
        (b[1] + b[3]) / 2.0 / t,
        (b[2] - b[0]) / t,
        (b[3] - b[1]) / t,
        if label.dont_care { " 1" } else { "" }
    )
}

/// Parse a YOLO label line (five fields, or six with a don't-care flag 0 or 1) back to a box in
/// tile pixels.
pub fn parse_yolo_line(line: &str, tile: usize) -> Option<TileLabel> {
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    if !(5..=6).contains(&v.len()) || v[0] < 0.0 || v[0].fract() != 0.0 {
        return None;
    }
    let dont_care = match v.get(5) {
        None => false,
        Some(&flag) if flag == 0.0 || flag == 1.0 => flag == 1.0,
        Some(_) => return None,
    };
    let t = tile as f64;
    let (cx, cy, w, h) = (v[1] * t, v[2] * t, v[3] * t, v[4] * t);
    Some(TileLabel {
        class: v[0] as usize,
        bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
        dont_care,
    })
}

/// Geometry a scene directory gives for ISL: heading and incidence.
fn scene_geometry(dir: &Path) -> Result<(Incidence, f64)> {
    let json_path = dir.join("scene.json");
    let json = crate::product::scene::read_scene_json(dir)?;
    let heading = json
        .get("heading_deg")
        .and_then(|v| v.as_f64())
        .ok_or_else(|| Error::bad_input(&json_path, "no heading_deg"))?;
    let incidence_raster = dir.join("incidence.tif");
    let incidence = if incidence_raster.exists() {
        Incidence::Raster(incidence_raster)
    } else {
        let deg = json
            .get("incidence_deg")
            .or_else(|| json.get("incidence_centre_deg"))
            .and_then(|v| v.as_f64())
            .ok_or_else(|| Error::bad_input(&json_path, "no incidence.tif and no incidence_deg"))?;
        Incidence::Degrees(deg)
    };
    Ok((incidence, heading))
}

/// Compute ISL, PC1 and the stack of a scene into `layer_dir`; returns the stack path.
pub fn scene_stack(scene_dir: &Path, layer_dir: &Path, progress: &dyn Progress) -> Result<PathBuf> {
    let (incidence, heading_deg) = scene_geometry(scene_dir)?;
    let raw = RawLayers {
        phase: scene_dir.join("phase.tif"),
        coherence: scene_dir.join("coherence.tif"),
        dem: scene_dir.join("dem.tif"),
        incidence,
        heading_deg,
    };
    layers_and_stack(&raw, layer_dir, progress)
}

/// Truth boxes of a scene in the stack's pixel coordinates, with class indices; those whose
/// `visible_peak_rad` lies below `dont_care_below_rad` marked don't-care.
fn scene_labels(
    truth: &Path,
    grid: &crate::raster::Grid,
    dont_care_below_rad: Option<f64>,
) -> Result<Vec<TileLabel>> {
    let layer = read_layer(truth, Some("truth")).or_else(|_| read_layer(truth, None))?;
    let mut labels = Vec::new();
    for f in &layer.features {
        let Some((x0, y0, x1, y1)) = f.envelope else {
            continue;
        };
        let code = f
            .attribute("class")
            .and_then(|v| v.as_text())
            .unwrap_or_default();
        let Some(class) = SignalClass::from_code(&code) else {
            return Err(Error::bad_input(
                truth,
                format!("unknown class '{code}' (expected AR, CF, CS or FS)"),
            ));
        };
        let peak = f.attribute(VISIBLE_PEAK_FIELD).and_then(|v| v.as_f64());
        let dont_care = is_faint(peak, dont_care_below_rad, truth)?;
        let (c0, r0) = grid.map_to_pixel(x0, y1);
        let (c1, r1) = grid.map_to_pixel(x1, y0);
        labels.push(TileLabel {
            class: class as usize,
            bbox: [c0.min(c1), r0.min(r1), c0.max(c1), r0.max(r1)],
            dont_care,
        });
    }
    Ok(labels)
}

/// Build a dataset from scene directories into `out` (must be empty or missing).
pub fn build_dataset(
    scenes: &[PathBuf],
    out: &Path,
    settings: &DatasetSettings,
    progress: &dyn Progress,
) -> Result<Manifest> {
    if settings.tile < 32 || settings.tile % 32 != 0 {
        return Err(Error::parameter(
            "tile",
            format!("{} px: use a multiple of 32", settings.tile),
        ));
    }
    if scenes.is_empty() {
        return Err(Error::parameter("scenes", "no scene directory given"));
    }
    if let Some(below) = settings.dont_care_below_rad {
        check_threshold(below)?;
    }
    check_scene_names(scenes)?;
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::Output {
            path: out.to_path_buf(),
            problem: "exists and is not empty".into(),
        });
    }
    // built in a hidden folder beside `out` and renamed into place when complete: an error,
    // a cancel or a kill never leaves a half-made dataset under the output's name
    crate::raster::io::remove_stale_partials(out, "dataset");
    let staging = crate::raster::io::partial_path(out, "dataset");
    let result = fill_dataset(scenes, &staging, settings, progress);
    let placed = result.and_then(|manifest| {
        if out.exists() {
            std::fs::remove_dir(out).map_err(|source| Error::io(out, source))?;
        }
        std::fs::rename(&staging, out).map_err(|source| Error::io(out, source))?;
        Ok(manifest)
    });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    placed
}

/// Refuse two scene folders of one name: tiles are named after their scene folder, so they would
/// overwrite each other's tiles and labels.
fn check_scene_names(scenes: &[PathBuf]) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for dir in scenes {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name {
            if let Some(first) = seen.insert(name.clone(), dir) {
                return Err(Error::parameter(
                    "scenes",
                    format!(
                        "{} and {} have the same folder name '{name}' (tiles are named after it): \
                         rename or link one under another name",
                        first.display(),
                        dir.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The tiles, labels, layers and manifest of a dataset of `scenes`, into the folder `out`.
fn fill_dataset(
    scenes: &[PathBuf],
    out: &Path,
    settings: &DatasetSettings,
    progress: &dyn Progress,
) -> Result<Manifest> {
    for dir in ["tiles", "labels", "layers"] {
        std::fs::create_dir_all(out.join(dir))
            .map_err(|source| Error::io(out.join(dir), source))?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut entries: Vec<(TileEntry, Vec<TileLabel>)> = Vec::new();
    for (k, scene_dir) in scenes.iter().enumerate() {
        let name = scene_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("scene{k}"));
        let part = Stage {
            parent: progress,
            start: k as f64 / scenes.len() as f64,
            span: 1.0 / scenes.len() as f64,
        };
        entries.extend(tile_scene(
            scene_dir, &name, out, settings, &mut rng, &part,
        )?);
        part.step(1.0, "tiles written")?;
    }
    entries.shuffle(&mut rng);
    let tally = split_entries(entries, out, settings)?;
    let anchors = anchors::kmeans_anchors(&tally.train_boxes, settings.anchors, settings.seed).ok_or_else(|| {
        Error::parameter(
            "scenes",
            format!("only {} distinct training boxes: at least {} are needed for the anchors; add scenes", tally.train_boxes.len(), settings.anchors),
        )
    })?;
    let [train, validation, test] = tally.splits;
    let manifest = Manifest {
        format_version: 1,
        classes: SignalClass::ALL
            .iter()
            .map(|c| c.code().to_string())
            .collect(),
        anchors,
        channels: channel_norms(tally.sums),
        tile: settings.tile,
        train,
        validation,
        test,
        scenes: scenes.iter().map(|p| p.display().to_string()).collect(),
        class_counts: tally.class_counts,
        settings: settings.clone(),
    };
    let path = out.join("dataset.json");
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| Error::parameter("manifest", e.to_string()))?;
    std::fs::write(&path, text).map_err(|source| Error::io(path, source))?;
    Ok(manifest)
}

/// The tiles of one scene (`name`) with their labels: its layers computed into `layers/NAME`,
/// then every tile with a label, and a drawn share of those without, written with its label file
/// (a tile without any valid pixel is dropped).
fn tile_scene(
    scene_dir: &Path,
    name: &str,
    out: &Path,
    settings: &DatasetSettings,
    rng: &mut ChaCha8Rng,
    part: &Stage,
) -> Result<Vec<(TileEntry, Vec<TileLabel>)>> {
    let tile = settings.tile;
    let truth = scene_dir.join("truth.gpkg");
    if !truth.exists() {
        return Err(Error::bad_input(
            scene_dir,
            "no truth.gpkg: a dataset scene needs labelled boxes",
        ));
    }
    let stack_path = scene_stack(
        scene_dir,
        &out.join("layers").join(name),
        &Stage {
            parent: part,
            start: 0.0,
            span: 0.7,
        },
    )?;
    let (stack_file, bands) = read_stack(&stack_path)?;
    let grid = stack_file.grid().clone();
    let labels = scene_labels(&truth, &grid, settings.dont_care_below_rad)?;
    let rows = tile_origins(grid.height, tile, 0);
    let cols = tile_origins(grid.width, tile, 0);
    let mut entries = Vec::new();
    for &row0 in &rows {
        for &col0 in &cols {
            let tile_labels = labels_in_tile(&labels, row0, col0, settings);
            let keep = !tile_labels.is_empty()
                || rng.random_bool(settings.empty_tile_fraction.clamp(0.0, 1.0));
            if !keep {
                continue;
            }
            let tile_name = format!("{name}_r{row0:05}_c{col0:05}");
            let origin = (row0, col0);
            if !write_tile_files(out, &tile_name, &grid, &bands, origin, &tile_labels, tile)? {
                continue;
            }
            entries.push((
                TileEntry {
                    name: tile_name,
                    scene: name.to_string(),
                    row0,
                    col0,
                    boxes: tile_labels.iter().filter(|l| !l.dont_care).count(),
                },
                tile_labels,
            ));
        }
    }
    Ok(entries)
}

/// The labels of a tile at (`row0`, `col0`): boxes clipped to it, kept when at least
/// `min_visible_fraction` of their area is in it (don't-care boxes too: a tile holding only such
/// boxes is kept as a labelled one, so the threshold changes labels, never which tiles).
fn labels_in_tile(
    labels: &[TileLabel],
    row0: usize,
    col0: usize,
    settings: &DatasetSettings,
) -> Vec<TileLabel> {
    let mut tile_labels = Vec::new();
    for l in labels {
        if let Some((b, share)) = clip_to_tile(&l.bbox, col0, row0, settings.tile) {
            if share >= settings.min_visible_fraction {
                tile_labels.push(TileLabel { bbox: b, ..*l });
            }
        }
    }
    tile_labels
}

/// Write tile `tile_name` at `origin` (row, column) to `tiles/` and its labels to `labels/`;
/// false (and no files) when the tile holds no valid pixel.
fn write_tile_files(
    out: &Path,
    tile_name: &str,
    grid: &crate::raster::Grid,
    bands: &[Array2<f32>; 3],
    origin: (usize, usize),
    labels: &[TileLabel],
    tile: usize,
) -> Result<bool> {
    let (row0, col0) = origin;
    let tile_path = out.join("tiles").join(format!("{tile_name}.tif"));
    let all_nodata = write_tile(&tile_path, grid, bands, row0, col0, tile)?;
    if all_nodata {
        let _ = std::fs::remove_file(tile_path);
        return Ok(false);
    }
    let text: Vec<String> = labels.iter().map(|l| yolo_line(l, tile)).collect();
    let label_path = out.join("labels").join(format!("{tile_name}.txt"));
    std::fs::write(
        &label_path,
        text.join("\n") + if text.is_empty() { "" } else { "\n" },
    )
    .map_err(|source| Error::io(label_path, source))?;
    Ok(true)
}

/// The shuffled tiles cut into the train, validation and test splits, with what the manifest
/// counts over them.
struct SplitTally {
    splits: [Vec<TileEntry>; 3],
    /// Label counts per class (in class order) for train, validation and test.
    class_counts: [[usize; 4]; 3],
    /// (width, height) of every training box, pixels.
    train_boxes: Vec<(f64, f64)>,
    /// Per channel over the training tiles' valid pixels: Σx, Σx², count.
    sums: [(f64, f64, u64); 3],
}

/// Cut the shuffled `entries` into the splits of `settings.split`, counting labels per class and
/// gathering the training boxes and the training tiles' channel sums.
fn split_entries(
    entries: Vec<(TileEntry, Vec<TileLabel>)>,
    out: &Path,
    settings: &DatasetSettings,
) -> Result<SplitTally> {
    let n = entries.len();
    let n_train = ((n as f64) * settings.split.0).round() as usize;
    let n_val = ((n as f64) * settings.split.1).round() as usize;
    let mut tally = SplitTally {
        splits: [Vec::new(), Vec::new(), Vec::new()],
        class_counts: [[0usize; 4]; 3],
        train_boxes: Vec::new(),
        sums: [(0.0f64, 0.0f64, 0u64); 3],
    };
    for (i, (entry, labels)) in entries.into_iter().enumerate() {
        let split = if i < n_train {
            0
        } else if i < n_train + n_val {
            1
        } else {
            2
        };
        for l in labels.iter().filter(|l| !l.dont_care) {
            tally.class_counts[split][l.class.min(3)] += 1;
            if split == 0 {
                tally
                    .train_boxes
                    .push((l.bbox[2] - l.bbox[0], l.bbox[3] - l.bbox[1]));
            }
        }
        if split == 0 {
            let path = out.join("tiles").join(format!("{}.tif", entry.name));
            add_channel_sums(&path, &mut tally.sums)?;
        }
        tally.splits[split].push(entry);
    }
    Ok(tally)
}

/// Add the valid pixels of tile `path` to the per-channel sums (Σx, Σx², count).
fn add_channel_sums(path: &Path, sums: &mut [(f64, f64, u64); 3]) -> Result<()> {
    let file = RasterFile::open(path)?;
    for (b, sum) in sums.iter_mut().enumerate() {
        for v in file.read_band(b + 1)?.iter().filter(|v| v.is_finite()) {
            sum.0 += f64::from(*v);
            sum.1 += f64::from(*v) * f64::from(*v);
            sum.2 += 1;
        }
    }
    Ok(())
}

/// The channel normalisation (mean, standard deviation; 1 for a constant channel) from the sums.
fn channel_norms(sums: [(f64, f64, u64); 3]) -> Vec<ChannelNorm> {
    CHANNELS
        .iter()
        .zip(sums)
        .map(|(name, (s, s2, n))| {
            let n = n.max(1) as f64;
            let mean = s / n;
            let std = (s2 / n - mean * mean).max(0.0).sqrt();
            ChannelNorm {
                name: (*name).to_string(),
                mean,
                std: if std > 1e-9 { std } else { 1.0 },
            }
        })
        .collect()
}

/// Write one 3-band tile (padded with nodata past the raster); true when it holds no valid pixel.
fn write_tile(
    path: &Path,
    grid: &crate::raster::Grid,
    bands: &[Array2<f32>; 3],
    row0: usize,
    col0: usize,
    tile: usize,
) -> Result<bool> {
    let tile_grid = grid.window(col0 as isize, row0 as isize, tile, tile);
    let mut writer = GeoTiffWriter::create(path, &tile_grid, &[Encoding::Float32; 3], &CHANNELS)?;
    let mut any_valid = false;
    for (b, band) in bands.iter().enumerate() {
        let mut values = Array2::<f32>::from_elem((tile, tile), f32::NAN);
        let rows = tile.min(grid.height - row0);
        let cols = tile.min(grid.width - col0);
        values
            .slice_mut(s![..rows, ..cols])
            .assign(&band.slice(s![row0..row0 + rows, col0..col0 + cols]));
        any_valid |= values.iter().any(|v| v.is_finite());
        writer.write_rows(b + 1, 0, values.view())?;
    }
    writer.finish()?;
    Ok(!any_valid)
}

/// Read dataset tile `name`: `tiles/NAME.tif` normalised as (x − mean)/std per channel (nodata
/// → 0), `[3, size, size]`, and its labels from `labels/NAME.txt` in tile pixels.
pub fn read_tile(
    dataset: &Path,
    name: &str,
    channels: &[ChannelNorm],
    size: usize,
) -> Result<(ndarray::Array3<f32>, Vec<TileLabel>)> {
    let path = dataset.join("tiles").join(format!("{name}.tif"));
    let file = RasterFile::open(&path)?;
    let mut tile = ndarray::Array3::<f32>::zeros((3, size, size));
    for (c, norm) in channels.iter().enumerate().take(3) {
        let band = file.read_band(c + 1)?;
        if band.dim() != (size, size) {
            return Err(Error::bad_input(
                &path,
                format!("tile of {:?} pixels, expected {size}", band.dim()),
            ));
        }
        let (mean, std) = (norm.mean as f32, norm.std as f32);
        for (out, v) in tile
            .index_axis_mut(ndarray::Axis(0), c)
            .iter_mut()
            .zip(band.iter())
        {
            *out = if v.is_finite() { (v - mean) / std } else { 0.0 };
        }
    }
    Ok((tile, read_tile_labels(dataset, name, size)?))
}

/// Read the labels of dataset tile `name` (`labels/NAME.txt`) in tile pixels.
pub fn read_tile_labels(dataset: &Path, name: &str, size: usize) -> Result<Vec<TileLabel>> {
    let label_path = dataset.join("labels").join(format!("{name}.txt"));
    let text =
        std::fs::read_to_string(&label_path).map_err(|source| Error::io(&label_path, source))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            parse_yolo_line(l, size)
                .ok_or_else(|| Error::bad_input(&label_path, format!("bad YOLO line '{l}'")))
        })
        .collect()
}

/// Read a dataset manifest.
pub fn read_manifest(dataset: &Path) -> Result<Manifest> {
    let path = dataset.join("dataset.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::io(&path, source))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::bad_input(&path, format!("not a fringewatch dataset manifest: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolo_lines_round_trip() {
        for dont_care in [false, true] {
            let label = TileLabel {
                dont_care,
                ..TileLabel::new(2, [10.0, 20.5, 42.0, 80.0])
            };
            let line = yolo_line(&label, 160);
            assert_eq!(line.split_whitespace().count(), 5 + usize::from(dont_care));
            let back = parse_yolo_line(&line, 160).unwrap();
            assert_eq!((back.class, back.dont_care), (2, dont_care));
            for k in 0..4 {
                assert!((back.bbox[k] - label.bbox[k]).abs() < 1e-3);
            }
        }
        assert!(parse_yolo_line("2 0.5 0.5 0.1 0.1 0", 160).is_some_and(|l| !l.dont_care));
        for bad in [
            "2 0.5 0.5 0.1 0.1 2",
            "-1 0.5 0.5 0.1 0.1",
            "2 0.5 0.5 0.1",
            "2.5 0.5 0.5 0.1 0.1",
            "2 0.5 x 0.1 0.1",
        ] {
            assert!(parse_yolo_line(bad, 160).is_none(), "{bad}");
        }
    }
}
