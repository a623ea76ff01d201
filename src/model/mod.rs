//! The detector model: the YOLOv3 graph ([`yolov3`]), the model contract ([`contract`]) and ONNX
//! writing/reading ([`onnx`]), a trained network carried onto a wider graph ([`widen`]), and the
//! weight average of networks fine-tuned from one start ([`soup`]).

pub mod contract;
pub mod decode;
pub mod onnx;
pub mod phase_input;
pub mod soup;
pub mod widen;
pub mod yolov3;

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// SHA-256 of a file, hex.
pub fn sha256_of(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::io(path, source))?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write an untrained YOLOv3 model (seeded random weights) with the given metadata pieces: for
/// benchmarks, engine tests and as the starting point of training.
pub fn write_random_model(
    path: &Path,
    architecture: yolov3::Architecture,
    tile: usize,
    seed: u64,
) -> Result<contract::ModelMetadata> {
    let classes = contract::CLASS_CODES.len();
    write_random_network(
        path,
        yolov3::Yolov3Config::of(architecture, classes),
        tile,
        seed,
    )
}

/// [`write_random_model`] for any network configuration (e.g. the cos/sin phase input); its
/// class count must be that of [`contract::CLASS_CODES`].
pub fn write_random_network(
    path: &Path,
    config: yolov3::Yolov3Config,
    tile: usize,
    seed: u64,
) -> Result<contract::ModelMetadata> {
    yolov3::check_tile_size("tile", tile)?;
    let classes: Vec<String> = contract::CLASS_CODES
        .iter()
        .map(|c| c.to_string())
        .collect();
    if config.classes != classes.len() {
        return Err(Error::parameter(
            "classes",
            format!(
                "{} classes; the simulator labels {}",
                config.classes,
                classes.len()
            ),
        ));
    }
    let graph = yolov3::build_graph(config);
    let weights = yolov3::random_weights(&graph, seed);
    let metadata = contract::ModelMetadata {
        format_version: contract::FORMAT_VERSION,
        name: format!(
            "yolov3-{}{}-untrained",
            match (config.width, config.depth) {
                (1.0, 1.0) => "full".to_string(),
                (0.25, 0.33) => "compact".to_string(),
                (w, d) => format!("w{w}-d{d}"),
            },
            match config.phase_input {
                phase_input::PhaseInput::Scaled => "",
                phase_input::PhaseInput::CosSin => "-cos-sin",
            }
        ),
        classes,
        anchors: contract::default_anchors(tile),
        channels: contract::default_channels(config.phase_input),
        tile,
        width: config.width,
        depth: config.depth,
        phase_input: config.phase_input,
        provenance: contract::Provenance {
            trained: false,
            source: format!("random initialisation, seed {seed}"),
            dataset: None,
            epochs: None,
            created: chrono::Utc::now().to_rfc3339(),
            note: "untrained: for tests and benchmarks only; its detections mean nothing".into(),
        },
        recommended_confidence: None,
    };
    let proto = onnx::to_onnx(&graph, &weights, &metadata)?;
    onnx::write_onnx(&proto, path)?;
    Ok(metadata)
}

/// File name of the bundled default model.
pub const DEFAULT_MODEL_FILE: &str = "fringewatch-default.onnx";

/// Where the bundled default model is looked for, in order: `FRINGEWATCH_MODEL_DIR`; then, from
/// the file this code was loaded from (the shared library when QGIS, Python or a C host loaded
/// it, else the executable) and from the executable: `models/` beside it, one level up (the
/// plugin zip's and the Python package's `lib/` → `models/`), two and three levels up (a cargo
/// build tree), and `share/fringewatch/models` of an install prefix. Never the source tree of
/// the build machine: a library copied elsewhere must not report a path of the machine it was
/// built on.
pub fn default_model_candidates() -> Vec<std::path::PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(dir) = std::env::var("FRINGEWATCH_MODEL_DIR") {
        dirs.push(std::path::PathBuf::from(dir));
    }
    let origins = loaded_from()
        .into_iter()
        .chain(std::env::current_exe().ok());
    for file in origins {
        if let Some(bin) = file.parent() {
            dirs.push(bin.join("models"));
            for up in [1usize, 2, 3] {
                if let Some(root) = bin.ancestors().nth(up) {
                    dirs.push(root.join("models"));
                }
            }
            if let Some(prefix) = bin.parent() {
                dirs.push(prefix.join("share/fringewatch/models"));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    dirs.into_iter()
        .filter(|d| seen.insert(d.clone()))
        .map(|d| d.join(DEFAULT_MODEL_FILE))
        .collect()
}

/// The file this code was loaded from (`dladdr` on one of its functions): the shared library
/// when a host loaded libfringewatch, the executable when it is linked in.
fn loaded_from() -> Option<std::path::PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let address = loaded_from as fn() -> Option<std::path::PathBuf> as *const libc::c_void;
        // SAFETY: dladdr only reads the address and fills `info`; dli_fname, when set, points
        // to a NUL-terminated name owned by the dynamic loader.
        let found = unsafe { libc::dladdr(address, &mut info) } != 0;
        if found && !info.dli_fname.is_null() {
            let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
            let path = Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()));
            return path.canonicalize().ok();
        }
    }
    None
}

/// The bundled default model, or an error that says where it was looked for.
pub fn default_model() -> Result<std::path::PathBuf> {
    let candidates = default_model_candidates();
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| Error::Parameter {
        name: "model".into(),
        problem: format!(
            "no `model` given and no bundled default model found ({} looked for in {}); give an ONNX file as `model`",
            DEFAULT_MODEL_FILE,
            candidates.iter().filter_map(|p| p.parent()).map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    })
}
