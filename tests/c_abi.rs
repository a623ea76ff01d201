//! The C ABI from C: the generated header is current, and a C program compiled with `cc`
//! against it calls every function (success and error paths) on a simulated scene and runs
//! clean under valgrind (no invalid reads or writes, no definite leaks). A C++ translation unit
//! includes the same header (C++ hosts need nothing else, see the README).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generated_header() -> String {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_src(root().join("src/ffi/mod.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

#[test]
fn header_is_up_to_date() {
    let path = root().join("include/fringewatch.h");
    let fresh = generated_header();
    if std::env::var_os("FRINGEWATCH_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/fringewatch.h is out of date with src/ffi/: regenerate it with \
         FRINGEWATCH_BLESS=1 cargo test --release --test c_abi header_is_up_to_date"
    );
}

fn newest_source(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_source(&path)
        } else {
            entry.metadata().unwrap().modified().unwrap()
        };
        newest = newest.max(t);
    }
    newest
}

/// The cdylib beside this test binary (target/<profile>/libfringewatch.so). `cargo test` does
/// not link cdylibs, so the README's test command runs `cargo build --release` first; a library
/// older than the sources would test stale code, and fails here.
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let lib = dir.join("libfringewatch.so");
    assert!(
        lib.is_file(),
        "{} not built: run `cargo build --release` before the tests (the README's test command does)",
        lib.display()
    );
    let built = lib.metadata().unwrap().modified().unwrap();
    assert!(
        built >= newest_source(&root().join("src")),
        "{} is older than src/: run `cargo build --release` before the tests",
        lib.display()
    );
    lib
}

fn compile(source: &str, compiler: &str, extra: &[&str], out: &Path) {
    let lib = cdylib();
    let libdir = lib.parent().unwrap();
    let status = Command::new(compiler)
        .args(extra)
        .args(["-Wall", "-Wextra", "-Werror", "-g", "-I"])
        .arg(root().join("include"))
        .arg(root().join("tests/c").join(source))
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", libdir.display()))
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .arg("-lfringewatch")
        .status()
        .unwrap_or_else(|e| panic!("{compiler} not runnable: {e}"));
    assert!(status.success(), "{compiler} failed on {source}");
}

struct Scene {
    dir: PathBuf,
    heading: f64,
}

fn simulate(tmp: &Path) -> Scene {
    let status = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .args([
            "--quiet", "simulate", "--seed", "11", "--size", "192", "--out",
        ])
        .arg(tmp.join("sim"))
        .status()
        .expect("simulate");
    assert!(status.success());
    let dir = tmp.join("sim/scene_0000");
    let scene: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("scene.json")).unwrap()).unwrap();
    let heading = scene["heading_deg"]
        .as_f64()
        .expect("heading in scene.json");
    Scene { dir, heading }
}

fn feature_count(gpkg: &Path, layer: &str) -> usize {
    let out = Command::new("ogrinfo")
        .args(["-so", "-ro"])
        .arg(gpkg)
        .arg(layer)
        .output()
        .expect("ogrinfo");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no feature count for {layer}: {text}"))
}

#[test]
fn c_program_calls_every_function_clean_under_valgrind() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = simulate(tmp.path());
    let exe = tmp.path().join("smoke");
    compile("smoke.c", "cc", &["-std=c99"], &exe);
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // An inventory layer already in the target GeoPackage must come out untouched.
    let target = work.join("results.gpkg");
    let status = Command::new("ogr2ogr")
        .arg(&target)
        .arg(scene.dir.join("inventory.gpkg"))
        .arg("inventory")
        .status()
        .unwrap();
    assert!(status.success());
    let dump = |p: &Path| {
        String::from_utf8(
            Command::new("ogrinfo")
                .args(["-al", "-ro"])
                .arg(p)
                .arg("inventory")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
    };
    let inventory_before = dump(&target);

    let valgrind = Command::new("valgrind")
        .args([
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite",
        ])
        .arg(format!(
            "--suppressions={}",
            root().join("tests/c/valgrind.supp").display()
        ))
        .arg(&exe)
        .arg(&scene.dir)
        .arg(&work)
        .arg(format!("{}", scene.heading))
        .env("FRINGEWATCH_MODEL_DIR", root().join("models"))
        .output()
        .expect("valgrind (apt install valgrind)");
    let stdout = String::from_utf8_lossy(&valgrind.stdout);
    let stderr = String::from_utf8_lossy(&valgrind.stderr);
    println!("{stdout}\n{stderr}");
    assert_eq!(
        valgrind.status.code(),
        Some(0),
        "C smoke test failed or valgrind found errors:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ALL CHECKS PASSED"), "{stdout}");

    // The program's outputs, checked with GDAL/OGR.
    for raster in ["isl.tif", "pc1.tif", "stack.tif"] {
        assert!(work.join(raster).is_file(), "{raster} missing");
    }
    assert!(!work.join("cancelled_stack.tif").exists());
    assert!(!work.join("cancelled.gpkg").exists());
    let reported: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("detections in stack run: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("count printed");
    assert_eq!(feature_count(&target, "detections"), reported);
    assert!(
        reported > 0,
        "the bundled model finds the simulated signals"
    );
    assert_eq!(
        feature_count(&target, "detections_overlay"),
        reported,
        "every detection in the overlay layer"
    );
    assert!(feature_count(&target, "end_to_end") > 0);
    assert!(feature_count(&target, "persistence") > 0);
    assert_eq!(dump(&target), inventory_before, "inventory layer touched");
    // the split batch: the recorded box once; `runs` rows done, skipped, failed
    let batch = work.join("batch.gpkg");
    assert_eq!(feature_count(&batch, "detections"), 1);
    assert_eq!(feature_count(&batch, "runs"), 3);
}

#[test]
fn cpp_host_uses_the_c_header() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("smoke_cpp");
    compile("smoke.cpp", "c++", &["-std=c++17"], &exe);
    let out = Command::new(&exe)
        .env("FRINGEWATCH_MODEL_DIR", root().join("models"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("fringewatch-default"), "{stdout}");
    assert!(stdout.contains("FW_NOT_FOUND"), "{stdout}");
}

/// The Python binding (ctypes, shared by the QGIS plugin and the Dask package) mirrors the
/// header: struct members, enumerators and function signatures (#18). A binding that drifts
/// is caught: here one with a member missing and one with a wrong enumerator.
#[test]
fn python_binding_mirrors_the_header() {
    let root = root();
    let checker = root.join("tests/python/ctypes_mirror.py");
    let header = root.join("include/fringewatch.h");
    let native = root.join("python/fringewatch/native.py");
    let run = |binding: &Path| {
        Command::new("python3")
            .arg(&checker)
            .arg(&header)
            .arg(binding)
            .output()
            .expect("python3 runs")
    };
    let output = run(&native);
    assert!(
        output.status.success(),
        "the binding differs from the header:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let tmp = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(&native).unwrap();
    for (from, to, named) in [
        (
            "        (\"overlap\", ctypes.c_uint32),\n",
            "",
            "struct FwDetectOptions: members",
        ),
        (
            "FW_BACKEND_GPU = 2",
            "FW_BACKEND_GPU = 3",
            "FW_BACKEND_GPU is 2",
        ),
        (
            "\"fw_detector_open\": ([ctypes.c_char_p, ctypes.c_int,",
            "\"fw_detector_open\": ([ctypes.c_char_p, ctypes.c_double,",
            "fw_detector_open argument 2",
        ),
    ] {
        assert!(source.contains(from), "{from}");
        let drifted = tmp.path().join("native.py");
        std::fs::write(&drifted, source.replacen(from, to, 1)).unwrap();
        let output = run(&drifted);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!output.status.success(), "drift not caught: {from}");
        assert!(stdout.contains(named), "'{stdout}' should name '{named}'");
    }
}
