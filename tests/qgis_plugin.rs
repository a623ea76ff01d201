//! The QGIS plugin in a real, headless QGIS 3.22 (Debian `python3-qgis`): runs
//! `qgis_plugin/tests` with pytest under Debian's python, against the cdylib of this build, and
//! checks the repository's Python (plugin, package, test, benchmark and model scripts) with ruff
//! (PEP 8). Outside CI a machine without QGIS skips with a message; in CI (`CI` set) that is a
//! failure, since `.ci/setup` installs it.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn qgis_available() -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import qgis.core, pytest"])
        .env("QT_QPA_PLATFORM", "offscreen")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "QGIS (python3-qgis) or python3-pytest missing in CI: .ci/setup installs them"
        );
        eprintln!("SKIP: /usr/bin/python3 cannot import qgis and pytest (apt install python3-qgis qgis-providers python3-pytest)");
    }
    ok
}

#[test]
fn plugin_algorithms_in_real_qgis() {
    if !qgis_available() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let lib = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("libfringewatch.so");
    assert!(
        lib.is_file(),
        "{} missing: run `cargo build --release` before the tests (the README's test command does)",
        lib.display()
    );
    let out = Command::new("/usr/bin/python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(root().join("qgis_plugin"))
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("FRINGEWATCH_LIBRARY", &lib)
        .env("FRINGEWATCH_CLI", env!("CARGO_BIN_EXE_fringewatch"))
        .env("FRINGEWATCH_MODEL_DIR", root().join("models"))
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "plugin tests failed (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    assert!(stdout.contains(" passed"), "{stdout}");
    assert!(
        !stdout.contains("skipped"),
        "no plugin test may be skipped: {stdout}"
    );
}

#[test]
fn plugin_python_is_pep8_clean() {
    let Some(python) = common::venv_python() else {
        return;
    };
    let ruff = python.with_file_name("ruff");
    if !ruff.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "ruff missing in CI: .ci/setup installs it"
        );
        eprintln!(
            "SKIP: {} missing (bash .ci/setup installs it)",
            ruff.display()
        );
        return;
    }
    let out = Command::new(&ruff)
        .args([
            "check",
            "qgis_plugin",
            "python",
            "tests/python",
            "benches",
            "models",
        ])
        .current_dir(root())
        .output()
        .expect("ruff");
    assert!(
        out.status.success(),
        "ruff check qgis_plugin python tests/python benches models:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
