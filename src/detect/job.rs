//! Detection jobs as the CLI and the C ABI run them: open a detector (a model file or the bundled
//! default) once, then detect on a stack or end to end from raw layers into a GeoPackage layer
//! (or a GeoJSON file). The output is checked before any work starts, and nothing is written
//! when the work fails or is cancelled.

use std::path::{Path, PathBuf};

use super::output::{detection_features, write_detections_in, ModelInfo};
use super::scene_info::scene_info;
use super::{detect_source, detect_stack, DetectSettings, DetectionRun};
use crate::engine::{open_engine, Backend, Engine};
use crate::error::{Error, Result};
use crate::layers::{layers_and_stack, RawLayers};
use crate::model::{default_model, sha256_of};
use crate::progress::{Progress, Silent, Stage};
use crate::raster::detector_grid::{off_model_spacing, phase_on_model_grid};
use crate::raster::io::{check_output_path, partial_path, remove_stale_partials, RasterFile};
use crate::stack::StackSource;
use crate::vector::{check_layer_name, is_geojson, reproject_features, PolygonFeature};

/// Where detections go: a layer of a GeoPackage (created or added to; other layers are never
/// touched), or a GeoJSON file when `path` ends in `.geojson`/`.json` (`layer` then unused).
#[derive(Debug, Clone)]
pub struct DetectionOutput {
    pub path: PathBuf,
    pub layer: String,
    /// Replace an existing layer of the same name (or an existing GeoJSON file).
    pub overwrite: bool,
}

impl DetectionOutput {
    /// Checks that need no work: output directory, layer name, an existing layer or file.
    pub fn check(&self) -> Result<()> {
        check_output_path(&self.path)?;
        if is_geojson(&self.path) {
            if self.path.exists() && !self.overwrite {
                return Err(Error::Output {
                    path: self.path.clone(),
                    problem: "already exists; allow overwriting it (`overwrite`)".into(),
                });
            }
            return Ok(());
        }
        crate::vector::check_geopackage_name(&self.path)?;
        check_layer_name(&self.layer)?;
        if self.path.exists() && !self.overwrite {
            if let Ok(names) = crate::vector::gpkg::layer_names(&self.path) {
                if names.iter().any(|n| n.eq_ignore_ascii_case(&self.layer)) {
                    return Err(Error::Output {
                        path: self.path.clone(),
                        problem: format!(
                            "layer '{}' already exists; choose another layer name or allow overwriting",
                            self.layer
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A loaded model on an engine, ready for any number of detection runs.
pub struct Detector {
    engine: Box<dyn Engine>,
    model_path: PathBuf,
    model_sha256: String,
    notes: Vec<String>,
}

impl Detector {
    /// Open `model` (default: the bundled model, see [`default_model`]) on `backend` (see
    /// [`open_engine`]: a missing or failing GPU falls back to tract), compiled for `batch`
    /// tiles per engine call.
    ///
    /// Detecting on a stack made by [`crate::stack::build_stack`] (or
    /// [`crate::layers::layers_and_stack`]) into a GeoPackage layer beside other layers:
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use fringewatch::detect::job::{DetectionOutput, Detector};
    /// use fringewatch::engine::Backend;
    /// use fringewatch::progress::Silent;
    /// let detector = Detector::open(None, Backend::Auto, 1)?;
    /// let output = DetectionOutput {
    ///     path: "survey.gpkg".into(),
    ///     layer: "detections_20200101_20200113".into(),
    ///     overwrite: false,
    /// };
    /// let run = detector.detect_to_output(
    ///     Path::new("stack.tif"),
    ///     &output,
    ///     &detector.default_settings(),
    ///     &Silent,
    /// )?;
    /// println!("{} boxes with {}", run.detections.len(), detector.engine().name());
    /// # Ok::<(), fringewatch::Error>(())
    /// ```
    pub fn open(model: Option<&Path>, backend: Backend, batch: usize) -> Result<Detector> {
        let model_path = match model {
            Some(p) => p.to_path_buf(),
            None => default_model()?,
        };
        let opened = open_engine(&model_path, backend, batch)?;
        let model_sha256 = sha256_of(&model_path)?;
        Ok(Detector {
            engine: opened.engine,
            model_path,
            model_sha256,
            notes: opened.notes,
        })
    }

    /// Which engine runs and why (one line each).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// Default settings with the model's recommended confidence (else 0.5) and the engine's
    /// preferred batch.
    pub fn default_settings(&self) -> DetectSettings {
        DetectSettings {
            confidence: self.engine.metadata().default_confidence(),
            batch: self.engine.preferred_batch(),
            ..DetectSettings::default()
        }
    }

    /// Detect on a 3-band stack and write the layer.
    pub fn detect_to_output(
        &self,
        stack: &Path,
        output: &DetectionOutput,
        settings: &DetectSettings,
        progress: &dyn Progress,
    ) -> Result<DetectionRun> {
        output.check()?;
        let run = detect_stack(stack, self.engine.as_ref(), settings, progress)?;
        self.write(run, output)
    }

    /// Write `run`'s boxes into the output (already checked), in `run`'s CRS.
    fn write(&self, run: DetectionRun, output: &DetectionOutput) -> Result<DetectionRun> {
        let crs = run.grid.crs.wkt.clone();
        self.write_in(run, output, &crs)
    }

    /// [`Self::write`] with the boxes reprojected to `crs` (unchanged when it is `run`'s).
    fn write_in(
        &self,
        run: DetectionRun,
        output: &DetectionOutput,
        crs: &str,
    ) -> Result<DetectionRun> {
        let features = reproject_features(self.features(&run), &run.grid.crs.wkt, crs)?;
        write_detections_in(
            &output.path,
            &output.layer,
            crs,
            &run.grid,
            &features,
            output.overwrite,
            &Silent,
        )?;
        Ok(run)
    }

    /// The detection layer's features of `run` (model name and SHA-256, created now).
    pub fn features(&self, run: &DetectionRun) -> Vec<PolygonFeature> {
        let metadata = self.engine.metadata();
        let model = ModelInfo {
            name: metadata.name.clone(),
            sha256: self.model_sha256.clone(),
        };
        detection_features(run, &metadata.classes, &model, chrono::Utc::now())
    }

    /// End to end from raw layers to detections. With `write_stack` (for a user who keeps the
    /// layers) ISL, PC1 and the stack are written in `layers` and detection reads the stack;
    /// otherwise no layer is written: ISL and PC1 are made as detection reads their rows
    /// ([`crate::layers::layers_on_demand`]), with only unnamed scratch files in `layers`. The
    /// interferogram's facts (name, dates, orbit) come from the phase — its metadata, else its
    /// file or folder name — not from an intermediate `stack.tif`, whose name says nothing.
    pub fn detect_raw(
        &self,
        raw: &RawLayers,
        layers: &Path,
        write_stack: bool,
        settings: &DetectSettings,
        progress: &dyn Progress,
    ) -> Result<DetectionRun> {
        let stage = |start, span| Stage {
            parent: progress,
            start,
            span,
        };
        let source = if write_stack {
            let stack = layers_and_stack(raw, layers, &stage(0.0, 0.55))?;
            StackSource::File(RasterFile::open(&stack)?)
        } else {
            crate::layers::layers_on_demand(raw, layers, &stage(0.0, 0.45))?
        };
        let detecting = if write_stack {
            stage(0.55, 0.45)
        } else {
            stage(0.45, 0.55)
        };
        let mut run = detect_source(&source, self.engine.as_ref(), settings, &detecting)?;
        if write_stack {
            // the facts come from the phase, not from `stack.tif` (layers on demand read the
            // phase itself, so detection already took them from it)
            run.scene = scene_info(&RasterFile::open(&raw.phase)?);
        }
        Ok(run)
    }

    /// End to end from raw layers: ISL, PC1 and the stack written in `keep_layers`, or none of
    /// them (scratch files without a name beside the output), then detection into `output`.
    ///
    /// A phase whose pixels are not the detector's 15 m ([`off_model_spacing`]) is first brought
    /// onto the detector's grid ([`phase_on_model_grid`]; `phase_15m.tif` among the kept layers,
    /// scratch files in `.NAME.partial-PID.grid` beside the output, removed) and the layers are
    /// made there; the detections then go back to the phase's own CRS. The returned run is on
    /// the detector's grid.
    pub fn detect_raw_to_output(
        &self,
        raw: &RawLayers,
        keep_layers: Option<&Path>,
        output: &DetectionOutput,
        settings: &DetectSettings,
        progress: &dyn Progress,
    ) -> Result<DetectionRun> {
        output.check()?;
        let layers = match keep_layers {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::io(dir, source))?;
                dir
            }
            None => output
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        };
        let phase = RasterFile::open(&raw.phase)?;
        // a phase on the detector's spacing is used as it is, unless stored other than north-up
        // (then it is warped onto the detector's grid as any other)
        if !off_model_spacing(phase.grid()) && phase.grid().is_north_up() {
            drop(phase);
            let run = self.detect_raw(raw, layers, keep_layers.is_some(), settings, progress)?;
            return self.write(run, output);
        }
        // the scratch folder `.NAME.partial-PID.grid` beside the output, removed when done (or
        // by the next run, should this one be killed)
        remove_stale_partials(&output.path, "grid");
        let partial = partial_path(&output.path, "grid");
        let scratch_parent = partial.parent().unwrap_or(Path::new("."));
        let scratch = tempfile::Builder::new()
            .prefix(partial.file_name().unwrap_or_default())
            .rand_bytes(0)
            .tempdir_in(scratch_parent)
            .map_err(|source| Error::io(&partial, source))?;
        let resampled_path = match keep_layers {
            Some(dir) => dir.join("phase_15m.tif"),
            None => scratch.path().join("phase.tif"),
        };
        let resampled = phase_on_model_grid(&phase, &resampled_path, scratch.path())?;
        // the interferogram's facts from the user's phase (the copy's name says nothing)
        let scene = scene_info(&phase);
        drop(phase);
        Stage {
            parent: progress,
            start: 0.0,
            span: 0.1,
        }
        .step(1.0, "phase on the detector's grid")?;
        let on_grid = RawLayers {
            phase: resampled.path.clone(),
            ..raw.clone()
        };
        let mut run = self.detect_raw(
            &on_grid,
            layers,
            keep_layers.is_some(),
            settings,
            &Stage {
                parent: progress,
                start: 0.1,
                span: 0.9,
            },
        )?;
        run.scene = scene;
        let run = self.write_in(run, output, &resampled.source_crs.wkt)?;
        drop(scratch);
        Ok(run)
    }
}
