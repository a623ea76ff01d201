//! The library's layers point one way (`src/lib.rs`): raster → layers (terrain, sensitivity,
//! phase, stack) → model → engine → detect → outputs, with simulate, dataset and train above and
//! cli/ffi on top. A module below detection that imports from above it fails here (issue: the
//! inference core stands alone); test modules (`#[cfg(test)]` onwards) may use anything.

use std::path::{Path, PathBuf};

/// Modules below detection: what the QGIS plugin's inference needs.
const BELOW_DETECT: &[&str] = &[
    "error.rs",
    "progress.rs",
    "tiling.rs",
    "raster",
    "terrain",
    "sensitivity",
    "phase",
    "stack.rs",
    "model",
    "engine",
];

/// What they must not import.
const ABOVE: &[&str] = &[
    "detect", "simulate", "dataset", "train", "cli", "ffi", "evaluate", "batch", "product",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// `crate::MODULE` paths named in `text` before its first `#[cfg(test)]`.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let module: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((n + 1, module));
        }
    }
    found
}

#[test]
fn nothing_below_detection_imports_from_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in BELOW_DETECT {
        rust_files(&src.join(module), &mut files);
    }
    assert!(
        files.len() > 30,
        "the scan found the modules: {}",
        files.len()
    );
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, module) in crate_paths(&text) {
            if ABOVE.contains(&module.as_str()) {
                wrong.push(format!(
                    "{}:{line} uses crate::{module}",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports pointing up:\n{}",
        wrong.join("\n")
    );
}

/// The checker itself sees an import pointing up, and skips test modules.
#[test]
fn the_checker_sees_an_upward_import() {
    let text = "use crate::raster::Grid;\nuse crate::simulate::SignalClass;\n// crate::cli\n\
                #[cfg(test)]\nmod tests { use crate::dataset::X; }\n";
    let modules: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(modules, vec!["raster", "simulate"]);
}

/// The simulator's classes are the model contract's, in its order and with its codes.
#[test]
fn the_simulator_classes_are_the_contracts() {
    use fringewatch::model::contract::CLASS_CODES;
    use fringewatch::simulate::SignalClass;
    for (i, class) in SignalClass::ALL.iter().enumerate() {
        assert_eq!(class.code(), CLASS_CODES[i]);
        assert_eq!(
            serde_json::to_string(class).unwrap(),
            format!("\"{}\"", CLASS_CODES[i])
        );
    }
}
