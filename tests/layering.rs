//! The library's layers point one way (`src/lib.rs`): raster and vector (file formats, with
//! phase, tiling, render) → layers (terrain, sensitivity, stack, layers) → model → engine →
//! detect → outputs (overlay, persistence, evaluate) → product, batch, simulate, dataset, train →
//! ffi (and the command line, a separate program). Every module of `src/` has its rank here; an
//! import of a module ranked above the importer's fails (issue: the inference core stands alone).
//! Test modules (`#[cfg(test)]` onwards) may use anything. And the library without the `cli`
//! feature carries no command-line parser or progress bars (`cargo tree`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Each top-level module of `src/` and its rank: a module may import its own rank and below.
const RANKS: &[(&str, u8)] = &[
    ("error", 0),
    ("progress", 0),
    ("raster", 0),
    ("vector", 0),
    ("phase", 0),
    ("tiling", 0),
    ("render", 0),
    ("terrain", 1),
    ("sensitivity", 1),
    ("stack", 1),
    ("layers", 1),
    ("model", 2),
    ("engine", 3),
    ("detect", 4),
    ("overlay", 5),
    ("persistence", 5),
    ("evaluate", 5),
    ("product", 6),
    ("batch", 6),
    ("simulate", 6),
    ("dataset", 6),
    ("train", 6),
    ("ffi", 7),
];

fn rank(module: &str) -> Option<u8> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// Top-level modules named by `crate::MODULE` paths in `text` before its first `#[cfg(test)]`,
/// grouped imports (`use crate::{raster::Grid, simulate::X};`) included, with line numbers.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut n = 0;
    while n < lines.len() {
        let line = lines[n];
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + 7..];
            if let Some(group) = rest.strip_prefix('{') {
                // a group may run over several lines: read up to its closing brace
                let mut text = group.to_string();
                let mut m = n;
                while !text.contains('}') && m + 1 < lines.len() {
                    m += 1;
                    text.push_str(lines[m].split("//").next().unwrap_or(""));
                }
                let inner = text.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let module: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !module.is_empty() {
                        found.push((n + 1, module));
                    }
                }
            } else {
                let module: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push((n + 1, module));
            }
        }
        n += 1;
    }
    found
}

/// The top-level module a file of `src/` belongs to (`lib` for lib.rs).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in &files {
        let module = module_of(&src, file);
        if ["lib", "main", "cli"].contains(&module.as_str()) {
            continue; // the crate root and the program sit above everything
        }
        let Some(own) = rank(&module) else {
            wrong.push(format!(
                "src/{module}: give the new module its rank in RANKS"
            ));
            continue;
        };
        checked += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for (line, used) in crate_paths(&text) {
            // `crate::Error`/`crate::Result` are the crate root's re-exports of `error`
            let used_rank = match used.as_str() {
                "Error" | "Result" => Some(0),
                m => rank(m),
            };
            match used_rank {
                Some(r) if r <= own => {}
                _ => wrong.push(format!(
                    "{}:{line}: {module} (rank {own}) uses crate::{used} (rank {})",
                    file.strip_prefix(&src).unwrap().display(),
                    used_rank.map_or("unknown".to_string(), |r| r.to_string())
                )),
            }
        }
    }
    assert!(checked > 80, "the scan found the modules' files: {checked}");
    assert!(
        wrong.is_empty(),
        "imports pointing up:\n{}",
        wrong.join("\n")
    );
}

/// The checker itself sees an import pointing up, grouped ones too, and skips test modules.
#[test]
fn the_checker_sees_an_upward_import() {
    let text = "use crate::raster::Grid;\nuse crate::simulate::SignalClass;\n// crate::cli\n\
                use crate::{\n    progress::Stage,\n    dataset::X,\n};\n\
                #[cfg(test)]\nmod tests { use crate::dataset::X; }\n";
    let modules: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(modules, vec!["raster", "simulate", "progress", "dataset"]);
    assert!(rank("simulate") > rank("engine"));
}

/// `cargo tree` of the library: what the normal dependencies of `fringewatch` are with the given
/// feature arguments.
fn library_dependencies(features: &[&str]) -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--manifest-path",
        ])
        .arg(&manifest)
        .args(features)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The library that QGIS and C hosts load carries no command line: without the `cli` feature
/// neither clap nor indicatif is a dependency; the program's build (default features) has both.
#[test]
fn the_library_without_the_cli_feature_has_no_command_line_crates() {
    let crate_names = |tree: &str| -> Vec<String> {
        tree.lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect()
    };
    let library = crate_names(&library_dependencies(&["--no-default-features"]));
    assert!(
        library.iter().any(|c| c == "gdal"),
        "the tree lists crates: {library:?}"
    );
    for cli_crate in ["clap", "indicatif"] {
        assert!(
            !library.iter().any(|c| c == cli_crate),
            "{cli_crate} in the library"
        );
    }
    let program = crate_names(&library_dependencies(&[]));
    assert!(program.iter().any(|c| c == "clap") && program.iter().any(|c| c == "indicatif"));
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
