//! Product readers (issue: real interferogram products in): each reader on its fixtures gives
//! the pair's grids, dates, orbit, baseline and per-pixel incidence and heading as the format
//! defines them (values computed by hand from the files), the phase is resampled as the complex
//! signal, and `run --product` needs nothing else.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDate;
use fringewatch::product::prepare::{prepare, Overrides, MODEL_SPACING_M};
use fringewatch::product::{open_product, LineOfSight, OrbitDirection, Processor};
use fringewatch::progress::Silent;
use fringewatch::raster::io::RasterFile;
use fringewatch::raster::{Crs, Grid};
use ndarray::Array2;

const HYP3: &str = "S1AA_20200103T135533_20200115T135532_VVP012_INT80_G_ueF_F1D0";

fn hyp3_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hyp3")
        .join(HYP3)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// `prepare` of a longitude/latitude product near 14.4°E 41.5°N into `dir`: the grid must be
/// UTM zone 33N and the heading `heading`.
fn prepared_in_utm33(
    product: &fringewatch::product::Product,
    dir: &Path,
    heading: f64,
) -> fringewatch::product::prepare::Prepared {
    let prepared = prepare(product, &Overrides::default(), dir, &Silent).unwrap();
    let utm33 = Crs::from_definition("EPSG:32633").unwrap();
    assert!(prepared.grid.crs.same_as(&utm33));
    let got = prepared.raw.heading_deg;
    assert!(
        (got - heading).abs() < 1e-3,
        "heading {got}, expected {heading}"
    );
    prepared
}

fn wrap(v: f64) -> f64 {
    (v + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}

/// The real HyP3-GAMMA crop: what the reader finds, and the geometry by hand. lv_theta of the
/// first pixel is 0.817972 rad (elevation 46.866°), so incidence 43.134°; lv_phi −0.169069 rad
/// (−9.687° from east, counter-clockwise), so heading 180° + 9.687° ≡ −170.313°.
#[test]
fn hyp3_product_by_hand() {
    let product = open_product(&hyp3_fixture()).unwrap();
    assert_eq!(product.processor, Processor::Hyp3);
    assert_eq!(product.name, HYP3);
    assert_eq!(product.reference_date, Some(date("2020-01-03")));
    assert_eq!(product.secondary_date, Some(date("2020-01-15")));
    assert_eq!(product.orbit, Some(OrbitDirection::Descending));
    assert_eq!(product.perpendicular_baseline_m, Some(61.2347));
    assert!((product.heading_deg.unwrap() + 170.3099).abs() < 1e-9);
    assert!(matches!(
        product.line_of_sight,
        Some(LineOfSight::Hyp3Angles { .. })
    ));
    assert!(product.dem.is_some());

    let dir = tempfile::tempdir().unwrap();
    let prepared = prepare(&product, &Overrides::default(), dir.path(), &Silent).unwrap();
    // 10 × 80 m = 800 m → ⌈800 / 15⌉ = 54 px in the product's UTM zone; the file's tie point
    // (PixelIsPoint) is the first pixel's centre, x 392720 (`gdal_translate -of XYZ`), so its
    // edge, where the grid starts, is half a pixel west
    assert_eq!((prepared.grid.width, prepared.grid.height), (54, 54));
    assert!(prepared
        .grid
        .crs
        .same_as(&RasterFile::open(&product.phase).unwrap().grid().crs));
    assert_eq!(prepared.grid.geo_transform[0], 392_680.0);
    assert_eq!(prepared.grid.geo_transform[1], MODEL_SPACING_M);
    assert!(
        (prepared.raw.heading_deg + 170.313).abs() < 0.01,
        "{}",
        prepared.raw.heading_deg
    );
    assert_eq!(prepared.product_spacing_m, 80.0);
    assert!(
        prepared
            .notes
            .iter()
            .any(|n| n.contains("80 m") && n.contains("320 m")),
        "{:?}",
        prepared.notes
    );
    // incidence at the first product pixel's centre (x 392720, y 3962320) by hand
    let incidence = match &prepared.raw.incidence {
        fringewatch::sensitivity::layer::Incidence::Raster(p) => RasterFile::open(p).unwrap(),
        other => panic!("{other:?}"),
    };
    let at = |file: &RasterFile, x: f64, y: f64| {
        let (c, r) = file.grid().map_to_pixel(x, y);
        file.read_band(1).unwrap()[[r as usize, c as usize]]
    };
    let theta = at(&incidence, 392_720.0, 3_962_320.0);
    assert!(
        (f64::from(theta) - (90.0 - 0.817972f64.to_degrees())).abs() < 0.05,
        "{theta}"
    );
    // the pair's facts ride on the phase raster into the detections
    let phase = RasterFile::open(&prepared.raw.phase).unwrap();
    let items = phase.metadata_items();
    let get = |k: &str| {
        items
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        get("FRINGEWATCH_PRIMARY_DATE").as_deref(),
        Some("2020-01-03")
    );
    assert_eq!(get("FRINGEWATCH_ORBIT").as_deref(), Some("descending"));
    assert_eq!(
        get("FRINGEWATCH_PERPENDICULAR_BASELINE_M").as_deref(),
        Some("61.23")
    );
    // the resampled phase keeps the product's phase at its pixel centres (smooth here)
    let source = RasterFile::open(&product.phase).unwrap();
    let values = source.read_band(1).unwrap();
    for row in 1..9 {
        for col in 1..9 {
            let (x, y) = source
                .grid()
                .pixel_to_map(col as f64 + 0.5, row as f64 + 0.5);
            let got = at(&phase, x, y);
            let want = values[[row, col]];
            assert!(
                (wrap(f64::from(got - want))).abs() < 0.15,
                "{row} {col}: {got} vs {want}"
            );
        }
    }
}

/// A HyP3 product whose metadata names another acquisition than its name is refused, with both
/// dates in the message.
#[test]
fn a_hyp3_product_whose_pieces_disagree_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(HYP3);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(hyp3_fixture()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
    let txt = copy.join(format!("{HYP3}.txt"));
    let text = std::fs::read_to_string(&txt).unwrap();
    std::fs::write(
        &txt,
        text.replace("__1SDV_20200115T135532", "__1SDV_20200127T135532"),
    )
    .unwrap();
    let err = open_product(&copy).unwrap_err().to_string();
    assert!(
        err.contains("2020-01-15")
            && err.contains("2020-01-27")
            && err.contains("Secondary Granule"),
        "{err}"
    );
}

/// Real HyP3 metadata files (MintPy's test data): the `Key: value` lines split at the first
/// colon, headings and baselines as numbers, dates from the names.
#[test]
fn real_hyp3_metadata_files() {
    use fringewatch::product::hyp3::{dates_from_product_name, parse_metadata};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hyp3/metadata");
    let read = |name: &str| parse_metadata(&std::fs::read_to_string(dir.join(name)).unwrap());
    let gamma = read("S1AC_20251001T204513_20251007T204359_HHR006_INT40_G_ueF_1DBE.txt");
    let get =
        |m: &[(String, String)], k: &str| m.iter().find(|(key, _)| key == k).unwrap().1.clone();
    assert_eq!(get(&gamma, "Heading"), "-18.1505111");
    assert_eq!(get(&gamma, "Baseline"), "48.0195");
    assert_eq!(get(&gamma, "Reference Pass Direction"), "ASCENDING");
    let burst = read("S1_056072_IW2_20220814_20220907_VV_INT80_E09B.txt");
    assert_eq!(
        get(&burst, "Radar sensing stop"),
        "2022-08-14T12:58:32.201805"
    );
    assert_eq!(
        dates_from_product_name("S1_056072_IW2_20220814_20220907_VV_INT80_E09B"),
        Some((date("2022-08-14"), date("2022-09-07")))
    );
    assert_eq!(
        dates_from_product_name("S1AC_20251001T204513_20251007T204359_HHR006_INT40_G_ueF_1DBE"),
        Some((date("2025-10-01"), date("2025-10-07")))
    );
    // the granules of both files give the dates of their product names
    use fringewatch::product::hyp3::granule_date;
    assert_eq!(
        granule_date(&get(&gamma, "Secondary Granule")),
        Some(date("2025-10-07"))
    );
    assert_eq!(
        granule_date(&get(&burst, "Reference Granule")),
        Some(date("2022-08-14"))
    );
}

/// A synthetic HyP3-format product whose phase is a ramp of 1 rad per 80 m pixel, crossing the
/// wrap every six pixels: resampled to 15 m as the complex signal it stays the ramp (within
/// 0.05 rad); resampling the angle would put values near 0 between +π and −π.
#[test]
fn the_phase_is_resampled_as_the_complex_signal() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir
        .path()
        .join("S1AA_20200103T000000_20200115T000000_VVP012_INT80_G_ueF_0000");
    std::fs::create_dir_all(&folder).unwrap();
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    let crs = Crs::from_definition("EPSG:32633").unwrap();
    let grid = Grid {
        width: 24,
        height: 20,
        geo_transform: [400_000.0, 80.0, 0.0, 4_600_000.0, 0.0, -80.0],
        crs,
    };
    let ramp = |x: f64, y: f64| wrap((x - 400_000.0) / 80.0 + 0.3 * (4_600_000.0 - y) / 80.0);
    let phase = Array2::from_shape_fn((20, 24), |(r, c)| {
        let (x, y) = grid.pixel_to_map(c as f64 + 0.5, r as f64 + 0.5);
        ramp(x, y) as f32
    });
    let write = |suffix: &str, values: &Array2<f32>| {
        common::write_tif(&folder.join(format!("{name}_{suffix}.tif")), &grid, values)
    };
    write("wrapped_phase", &phase);
    write("corr", &Array2::from_elem((20, 24), 0.8));
    write("dem", &Array2::from_elem((20, 24), 500.0));
    let prepared = prepare(
        &open_product(&folder).unwrap(),
        &Overrides {
            incidence: Some(fringewatch::sensitivity::layer::Incidence::Degrees(39.0)),
            heading_deg: Some(-10.0),
            ..Default::default()
        },
        &dir.path().join("layers"),
        &Silent,
    )
    .unwrap();
    let out = RasterFile::open(&prepared.raw.phase).unwrap();
    let values = out.read_band(1).unwrap();
    let mut worst = 0.0f64;
    // away from the border, where bilinear weights reach outside the product
    for r in 8..values.nrows() - 8 {
        for c in 8..values.ncols() - 8 {
            let (x, y) = out.grid().pixel_to_map(c as f64 + 0.5, r as f64 + 0.5);
            worst = worst.max(wrap(f64::from(values[[r, c]]) - ramp(x, y)).abs());
        }
    }
    println!("largest phase error after complex resampling: {worst:.3} rad");
    assert!(worst < 0.05, "{worst}");
}

/// A LiCSAR frame folder built to the format (LiCSBAS's download layout; `geo.cc.tif` made as
/// LiCSAR makes it, `gdal_translate -ot Byte -scale 0 1 0 255`): longitude/latitude pair rasters,
/// the frame's E/N/U and heights on a larger frame grid, `metadata.txt` and `baselines`.
/// By hand: an ascending pass with incidence 41.6° and heading −12°, i.e. the ground-to-satellite
/// vector at bearing −102° and 48.4° above the horizon; coherence 204/255 = 0.8;
/// B⊥ = 25 − (−98) = 123 m; orbit from the frame id's 'A'; the grid in UTM zone 33N.
#[test]
fn licsar_frame_by_hand() {
    if !common::tool("gdal_translate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let frame = dir.path().join("117A_05100_131313");
    let pair = frame.join("interferograms/20240106_20240118");
    let metadata = frame.join("metadata");
    std::fs::create_dir_all(&pair).unwrap();
    std::fs::create_dir_all(&metadata).unwrap();
    let wgs84 = Crs::from_definition("EPSG:4326").unwrap();
    let pair_grid = Grid {
        width: 30,
        height: 24,
        geo_transform: [14.40, 0.001, 0.0, 41.50, 0.0, -0.001],
        crs: wgs84.clone(),
    };
    let frame_grid = Grid {
        width: 60,
        height: 50,
        geo_transform: [14.39, 0.001, 0.0, 41.51, 0.0, -0.001],
        crs: wgs84,
    };
    let phase = Array2::from_shape_fn((24, 30), |(r, c)| {
        (0.2 * c as f32 - 0.1 * r as f32).sin() * 3.0
    });
    common::write_tif(
        &pair.join("20240106_20240118.geo.diff_pha.tif"),
        &pair_grid,
        &phase,
    );
    let float_cc = dir.path().join("cc.tif");
    common::write_tif(&float_cc, &pair_grid, &Array2::from_elem((24, 30), 0.8));
    let status = Command::new("gdal_translate")
        .args([
            "-q",
            "-ot",
            "Byte",
            "-scale",
            "0",
            "1",
            "0",
            "255",
            "-a_nodata",
            "none",
        ])
        .arg(&float_cc)
        .arg(pair.join("20240106_20240118.geo.cc.tif"))
        .status()
        .unwrap();
    assert!(status.success());
    let (theta, bearing) = (41.6f64.to_radians(), (-102.0f64).to_radians());
    let enu = [
        ("E", theta.sin() * bearing.sin()),
        ("N", theta.sin() * bearing.cos()),
        ("U", theta.cos()),
    ];
    for (component, value) in enu {
        common::write_tif(
            &metadata.join(format!("117A_05100_131313.geo.{component}.tif")),
            &frame_grid,
            &Array2::from_elem((50, 60), value as f32),
        );
    }
    common::write_tif(
        &metadata.join("117A_05100_131313.geo.hgt.tif"),
        &frame_grid,
        &Array2::from_shape_fn((50, 60), |(r, c)| 800.0 + 3.0 * (r + c) as f32),
    );
    std::fs::write(
        metadata.join("metadata.txt"),
        "master=20201210\ncenter_time=5:06:14.884940\nheading=-12.019061\navg_incidence_angle=41.6437\n",
    )
    .unwrap();
    std::fs::write(
        metadata.join("baselines"),
        "20201210 20201210 0 0\n20201210 20240106 -98 1122\n20201210 20240118 25 1134\n",
    )
    .unwrap();

    // the frame folder holds one pair: reading it or the pair folder is the same
    let product = open_product(&frame).unwrap();
    assert_eq!(product, open_product(&pair).unwrap());
    assert_eq!(product.processor, Processor::Licsar);
    assert_eq!(product.name, "20240106_20240118");
    assert_eq!(product.orbit, Some(OrbitDirection::Ascending));
    assert_eq!(product.perpendicular_baseline_m, Some(123.0));
    assert_eq!(product.reference_date, Some(date("2024-01-06")));
    assert!((product.coherence_scale - 1.0 / 255.0).abs() < 1e-12);
    assert!((product.heading_deg.unwrap() + 12.019061).abs() < 1e-9);

    let prepared = prepared_in_utm33(&product, &dir.path().join("layers"), -12.0);
    assert!(
        prepared.notes.iter().any(|n| n.contains("coarser")),
        "{:?}",
        prepared.notes
    );
    let inner = |path: &Path| {
        let values = common::read(path);
        let (h, w) = values.dim();
        values.slice(ndarray::s![5..h - 5, 5..w - 5]).to_owned()
    };
    let incidence = match &prepared.raw.incidence {
        fringewatch::sensitivity::layer::Incidence::Raster(p) => inner(p),
        other => panic!("{other:?}"),
    };
    assert!(
        incidence.iter().all(|v| (v - 41.6).abs() < 1e-3),
        "{incidence:?}"
    );
    let coherence = inner(&prepared.raw.coherence);
    assert!(coherence.iter().all(|v| (v - 204.0 / 255.0).abs() < 1e-5));
    // `run --product`: detections are mapped back to the product's longitude/latitude
    let out = dir.path().join("licsar.gpkg");
    let run = fw()
        .args([
            "--quiet",
            "run",
            "--backend",
            "cpu",
            "--confidence",
            "0.01",
            "--product",
        ])
        .arg(&frame)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let layer = fringewatch::vector::gpkg::read_layer(&out, Some("detections")).unwrap();
    assert!(
        Crs::from_definition(&layer.crs_wkt).unwrap().geographic,
        "{}",
        layer.crs_wkt
    );
    assert!(!layer.features.is_empty(), "no box even at confidence 0.01");
    for f in &layer.features {
        let (x0, y0, x1, y1) = f.envelope.unwrap();
        // the pair covers 14.400–14.430°E, 41.476–41.500°N (a box may reach a little past it)
        assert!(
            x0 > 14.39 && x1 < 14.44 && y0 > 41.46 && y1 < 41.51,
            "{:?}",
            f.envelope
        );
    }
    // a product whose metadata contradicts its geometry is reported
    let mut contradicting = product.clone();
    contradicting.heading_deg = Some(30.0);
    let prepared = prepare(
        &contradicting,
        &Overrides::default(),
        &dir.path().join("l2"),
        &Silent,
    )
    .unwrap();
    assert!(
        prepared
            .notes
            .iter()
            .any(|n| n.contains("30.0°") && n.contains("-12.0°")),
        "{:?}",
        prepared.notes
    );
}

fn fw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fringewatch"))
}

/// `run --product` needs nothing else: the HyP3 crop goes through the whole chain into a
/// GeoPackage, with the product's facts and the coarse-grid warning on the terminal; a flag
/// replaces what the product says; a folder of no known format is refused with what was looked
/// for.
#[test]
fn run_with_a_product_needs_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gpkg");
    let run = fw()
        .args(["run", "--product"])
        .arg(hyp3_fixture())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("HyP3 product") && stderr.contains("descending"),
        "{stderr}"
    );
    assert!(stderr.contains("heading -170.3°"), "{stderr}");
    assert!(
        stderr.contains("warning: the product's pixels are 80 m"),
        "{stderr}"
    );
    assert!(out.is_file());
    let again = fw()
        .args(["run", "--product"])
        .arg(hyp3_fixture())
        .args(["--heading=-165", "--incidence-deg", "40", "--out"])
        .arg(dir.path().join("again.gpkg"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("heading -165.0°"), "{stderr}");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let refused = fw()
        .args(["run", "--product"])
        .arg(&empty)
        .arg("--out")
        .arg(dir.path().join("x.gpkg"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("*_wrapped_phase.tif") && stderr.contains("*.geo.diff_pha.tif"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// A `--keep-layers` folder where preparing the product would write over one of its inputs (a
/// DEM named `dem.tif` in it) is refused in one line before anything is written: the DEM is
/// kept byte for byte and no detections appear.
#[test]
fn a_kept_layer_folder_holding_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dem = dir.path().join("dem.tif");
    std::fs::copy(hyp3_fixture().join(format!("{HYP3}_dem.tif")), &dem).unwrap();
    let before = std::fs::read(&dem).unwrap();
    let out = dir.path().join("out.gpkg");
    let refused = fw()
        .args(["--quiet", "run", "--product"])
        .arg(hyp3_fixture())
        .arg("--dem")
        .arg(&dem)
        .arg("--keep-layers")
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("dem.tif")
            && stderr.contains("is also an input")
            && stderr.contains("keep the layers in another folder"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(std::fs::read(&dem).unwrap(), before);
    assert!(!out.exists());
    for name in ["phase.tif", "coherence.tif", "incidence.tif"] {
        assert!(!dir.path().join(name).exists(), "{name} written");
    }
    // An incidence kept from an earlier run and given back from the same folder is only read
    // (prepare writes no incidence.tif when one is given): not refused.
    let earlier = tempfile::tempdir().unwrap();
    let kept = earlier.path().join("kept");
    let incidence = kept.join("incidence.tif");
    let run_kept = |extra: &[&Path], out: &str| {
        let mut command = fw();
        command
            .args(["--quiet", "run", "--product"])
            .arg(hyp3_fixture());
        if let [given] = extra {
            command.arg("--incidence").arg(given);
        }
        let o = command
            .arg("--keep-layers")
            .arg(&kept)
            .arg("--out")
            .arg(earlier.path().join(out))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run_kept(&[], "first.gpkg");
    let before = std::fs::read(&incidence).unwrap();
    run_kept(&[&incidence], "again.gpkg");
    assert_eq!(std::fs::read(&incidence).unwrap(), before);
}

/// Write `f(lon, lat)` at the cell centres of a pixel-registered longitude/latitude grid with
/// `gmt xyz2grd -r -fg`, as GMTSAR's `proj_ra2ll.csh` makes its `*_ll.grd` files.
fn gmt_grid(dir: &Path, out: &Path, region: [f64; 4], cell: f64, f: impl Fn(f64, f64) -> f64) {
    let (cols, rows) = (
        ((region[1] - region[0]) / cell).round() as usize,
        ((region[3] - region[2]) / cell).round() as usize,
    );
    let mut xyz = String::new();
    for r in 0..rows {
        for c in 0..cols {
            let (lon, lat) = (
                region[0] + (c as f64 + 0.5) * cell,
                region[2] + (r as f64 + 0.5) * cell,
            );
            xyz.push_str(&format!("{lon:.6} {lat:.6} {:.6}\n", f(lon, lat)));
        }
    }
    let text = dir.join("grid.xyz");
    std::fs::write(&text, xyz).unwrap();
    let status = Command::new("gmt")
        .current_dir(dir)
        .arg("xyz2grd")
        .arg(&text)
        .arg(format!(
            "-R{}/{}/{}/{}",
            region[0], region[1], region[2], region[3]
        ))
        .arg(format!("-I{cell}"))
        .args(["-r", "-fg"])
        .arg(format!("-G{}", out.display()))
        .status()
        .unwrap();
    assert!(status.success(), "gmt xyz2grd");
}

/// A GMTSAR batch layout built with GMT itself: `F1/intf_all/2015145_2015157/` holding the
/// geocoded grids, the look vectors and a PRM, with `F1/topo/dem.grd` and
/// `F1/baseline_table.dat`. By hand: 2015 day 145 counted from 0 is 26 May, day 157 is 7 June;
/// the PRM says `orbdir = D`; B⊥ = 25.40 − (−17.10) = 42.5 m from the table (the batch PRM has
/// none); the look vectors point 39° off the vertical at bearing 102° (a descending pass:
/// heading 102° + 90° = 192° ≡ −168°); the grid rows, stored south first, come out north-up
/// with the value written at each longitude/latitude.
#[test]
fn gmtsar_folder_by_hand() {
    if !common::tool("gmt") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("F1");
    let pair = top.join("intf_all/2015145_2015157");
    std::fs::create_dir_all(&pair).unwrap();
    std::fs::create_dir_all(top.join("topo")).unwrap();
    let region = [14.40, 14.43, 41.48, 41.50];
    let phase = |lon: f64, lat: f64| 0.5 + 40.0 * (lon - 14.40) - 30.0 * (lat - 41.48);
    gmt_grid(
        dir.path(),
        &pair.join("phasefilt_ll.grd"),
        region,
        0.001,
        phase,
    );
    gmt_grid(
        dir.path(),
        &pair.join("corr_ll.grd"),
        region,
        0.001,
        |_, _| 0.7,
    );
    let (theta, bearing) = (39f64.to_radians(), 102f64.to_radians());
    for (name, value) in [
        ("east_look.grd", theta.sin() * bearing.sin()),
        ("north_look.grd", theta.sin() * bearing.cos()),
        ("up_look.grd", theta.cos()),
    ] {
        gmt_grid(dir.path(), &pair.join(name), region, 0.001, |_, _| value);
    }
    gmt_grid(
        dir.path(),
        &top.join("topo/dem.grd"),
        [14.39, 14.44, 41.47, 41.51],
        0.0005,
        |lon, lat| 900.0 + 2000.0 * (lon - 14.39) + 1000.0 * (lat - 41.47),
    );
    std::fs::write(
        pair.join("S1_20150526_ALL_F1.PRM"),
        "SC_clock_start\t\t= 2015145.5465232000\norbdir\t= D\nlookdir\t= R\nradar_wavelength\t= 0.0554658\n",
    )
    .unwrap();
    let repeat_prm = pair.join("S1_20150607_ALL_F1.PRM");
    std::fs::write(
        &repeat_prm,
        "SC_clock_start\t\t= 2015157.5465219383\norbdir\t= D\n",
    )
    .unwrap();
    std::fs::write(
        top.join("baseline_table.dat"),
        "S1_20150526_ALL_F1 2015145.5885222249 0 -33.273566547687 -17.10\n\
         S1_20150607_ALL_F1 2015157.5885219383 12 -20.000000000000 25.40\n",
    )
    .unwrap();

    let product = open_product(&pair).unwrap();
    assert_eq!(product.processor, Processor::Gmtsar);
    assert_eq!(product.name, "2015145_2015157");
    assert_eq!(product.reference_date, Some(date("2015-05-26")));
    assert_eq!(product.secondary_date, Some(date("2015-06-07")));
    assert_eq!(product.orbit, Some(OrbitDirection::Descending));
    assert!((product.perpendicular_baseline_m.unwrap() - 42.5).abs() < 1e-9);
    assert!(product.dem.as_ref().unwrap().ends_with("topo/dem.grd"));
    // rows come out north-up: the cell centred on (14.4105, 41.4985) holds its value
    let grid_file = RasterFile::open(&product.phase).unwrap();
    assert!(grid_file.grid().crs.geographic);
    let (c, r) = grid_file.grid().map_to_pixel(14.4105, 41.4985);
    let stored = grid_file.read_band(1).unwrap()[[r as usize, c as usize]];
    assert!(
        (f64::from(stored) - phase(14.4105, 41.4985)).abs() < 1e-5,
        "{stored}"
    );

    let prepared = prepared_in_utm33(&product, &dir.path().join("layers"), -168.0);
    let incidence = match &prepared.raw.incidence {
        fringewatch::sensitivity::layer::Incidence::Raster(p) => common::read(p),
        other => panic!("{other:?}"),
    };
    let (h, w) = incidence.dim();
    let inner = incidence.slice(ndarray::s![5..h - 5, 5..w - 5]);
    assert!(inner.iter().all(|v| (v - 39.0).abs() < 1e-3));
    // the phase on the 15 m UTM grid at a longitude/latitude is the product's there
    let to_utm = proj::Proj::new_known_crs("EPSG:4326", "EPSG:32633", None).unwrap();
    let out = RasterFile::open(&prepared.raw.phase).unwrap();
    let values = out.read_band(1).unwrap();
    for (lon, lat) in [(14.405, 41.485), (14.42, 41.49), (14.425, 41.495)] {
        let (x, y) = to_utm.convert((lon, lat)).unwrap();
        let (c, r) = out.grid().map_to_pixel(x, y);
        let got = f64::from(values[[r as usize, c as usize]]);
        assert!((got - phase(lon, lat)).abs() < 0.01, "{lon} {lat}: {got}");
    }
    // a folder whose name and PRM files disagree on the pair is refused, naming both
    std::fs::write(
        &repeat_prm,
        "SC_clock_start\t\t= 2015160.5465219383\norbdir\t= D\n",
    )
    .unwrap();
    let err = open_product(&pair).unwrap_err().to_string();
    assert!(
        err.contains("2015-06-07") && err.contains("2015-06-10"),
        "{err}"
    );
    std::fs::write(
        &repeat_prm,
        "SC_clock_start\t\t= 2015157.5465219383\norbdir\t= D\n",
    )
    .unwrap();
    // without look vectors the heading must be given, and the message says how GMTSAR makes them
    for name in ["east_look.grd", "north_look.grd", "up_look.grd"] {
        std::fs::remove_file(pair.join(name)).unwrap();
    }
    let err = prepare(
        &open_product(&pair).unwrap(),
        &Overrides {
            incidence: Some(fringewatch::sensitivity::layer::Incidence::Degrees(39.0)),
            ..Default::default()
        },
        &dir.path().join("l2"),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("calc_look_vector.csh")
            && err.contains("give `heading`")
            && err.contains("descending"),
        "{err}"
    );
}

/// An ISCE-style raw raster and its GDAL `.vrt` sidecar as ISCE2's `Image.py` writes them:
/// little-endian, band-interleaved by line, EPSG:4326.
fn isce_raster(path: &Path, width: usize, height: usize, data_type: &str, bands: &[Vec<u8>]) {
    let bytes_per_value = bands[0].len() / (width * height);
    let mut raw = Vec::new();
    for row in 0..height {
        for band in bands {
            let line = width * bytes_per_value;
            raw.extend_from_slice(&band[row * line..(row + 1) * line]);
        }
    }
    std::fs::write(path, raw).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    let mut vrt = format!(
        "<VRTDataset rasterXSize=\"{width}\" rasterYSize=\"{height}\">\n  <SRS>EPSG:4326</SRS>\n  \
         <GeoTransform>14.40, 0.001, 0.0, 41.50, 0.0, -0.001</GeoTransform>\n"
    );
    for (k, _) in bands.iter().enumerate() {
        vrt.push_str(&format!(
            "  <VRTRasterBand dataType=\"{data_type}\" band=\"{}\" subClass=\"VRTRawRasterBand\">\n    \
             <SourceFilename relativeToVRT=\"1\">{name}</SourceFilename>\n    <ByteOrder>LSB</ByteOrder>\n    \
             <ImageOffset>{}</ImageOffset>\n    <PixelOffset>{bytes_per_value}</PixelOffset>\n    \
             <LineOffset>{}</LineOffset>\n  </VRTRasterBand>\n",
            k + 1,
            k * width * bytes_per_value,
            bands.len() * width * bytes_per_value
        ));
    }
    vrt.push_str("</VRTDataset>\n");
    std::fs::write(format!("{}.vrt", path.display()), vrt).unwrap();
}

fn f32_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
    values.flat_map(f32::to_le_bytes).collect()
}

/// ISCE2 topsApp outputs built to the format: `merged/filt_topophase.flat.geo` (complex
/// amplitude 5·e^{iφ}, 0 outside the swath), `phsig.cor.geo`, the two-band `los.rdr.geo`
/// (incidence 38°, azimuth 102°: by MintPy's check values an ascending pass of heading −12°)
/// and the run folder's Int16 `*.dem.wgs84`. The phase read back is φ (the complex argument),
/// missing where the interferogram is 0.
/// φ of the ISCE2 fixture at column `c`, row `r`.
fn isce2_phase(c: usize, r: usize) -> f64 {
    (0.4 * c as f64 - 0.25 * r as f64).sin() * 3.0
}

/// The ISCE2 fixture's rasters in run folder `run_dir` (outputs in `run_dir/merged`).
fn write_isce2_run(run_dir: &Path) {
    let merged = run_dir.join("merged");
    std::fs::create_dir_all(&merged).unwrap();
    let (w, h) = (30usize, 24usize);
    let phase = isce2_phase;
    let mut complex = Vec::new();
    for r in 0..h {
        for c in 0..w {
            let (re, im) = if c < 2 {
                (0.0, 0.0) // outside the swath
            } else {
                (5.0 * phase(c, r).cos(), 5.0 * phase(c, r).sin())
            };
            complex.extend_from_slice(&(re as f32).to_le_bytes());
            complex.extend_from_slice(&(im as f32).to_le_bytes());
        }
    }
    isce_raster(
        &merged.join("filt_topophase.flat.geo"),
        w,
        h,
        "CFloat32",
        &[complex],
    );
    isce_raster(
        &merged.join("phsig.cor.geo"),
        w,
        h,
        "Float32",
        &[f32_bytes((0..w * h).map(|_| 0.6))],
    );
    isce_raster(
        &merged.join("los.rdr.geo"),
        w,
        h,
        "Float32",
        &[
            f32_bytes((0..w * h).map(|_| 38.0)),
            f32_bytes((0..w * h).map(|_| 102.0)),
        ],
    );
    let dem: Vec<u8> = (0..w * h)
        .flat_map(|k| (700 + k as i16).to_le_bytes())
        .collect();
    isce_raster(
        &run_dir.join("demLat_N41_N42_Lon_E014_E015.dem.wgs84"),
        w,
        h,
        "Int16",
        &[dem],
    );
}

#[test]
fn isce2_outputs_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("20240106_20240118");
    let merged = run_dir.join("merged");
    write_isce2_run(&run_dir);
    let phase = isce2_phase;

    let product = open_product(&run_dir).unwrap();
    assert_eq!(product, open_product(&merged).unwrap());
    assert_eq!(product.processor, Processor::Isce2);
    assert!(product.phase_is_complex);
    assert_eq!(product.name, "20240106_20240118");
    assert_eq!(product.reference_date, Some(date("2024-01-06")));
    assert!(product
        .dem
        .as_ref()
        .unwrap()
        .ends_with("demLat_N41_N42_Lon_E014_E015.dem.wgs84.vrt"));
    assert!(matches!(
        product.line_of_sight,
        Some(LineOfSight::IsceAngles { .. })
    ));

    let complex_phase = RasterFile::open_complex_phase(&product.phase).unwrap();
    let values = complex_phase.read_band(1).unwrap();
    assert!((f64::from(values[[7, 11]]) - phase(11, 7)).abs() < 1e-6);

    let prepared = prepare(
        &product,
        &Overrides::default(),
        &dir.path().join("layers"),
        &Silent,
    )
    .unwrap();
    assert!(
        (prepared.raw.heading_deg + 12.0).abs() < 1e-6,
        "{}",
        prepared.raw.heading_deg
    );
    let out = RasterFile::open(&prepared.raw.phase).unwrap();
    let items = out.metadata_items();
    assert!(
        items.contains(&("FRINGEWATCH_ORBIT".into(), "ascending".into())),
        "{items:?}"
    );
    let phase_out = out.read_band(1).unwrap();
    // west of the swath edge (the first two product columns, 14.400–14.402°E) nothing is read
    let to_utm = proj::Proj::new_known_crs("EPSG:4326", "EPSG:32633", None).unwrap();
    let at = |lon: f64, lat: f64| {
        let (x, y) = to_utm.convert((lon, lat)).unwrap();
        let (c, r) = out.grid().map_to_pixel(x, y);
        phase_out[[r as usize, c as usize]]
    };
    assert!(at(14.4005, 41.4905).is_nan());
    // at a product cell centre the product's phase comes back
    let got = f64::from(at(14.4115, 41.4925));
    assert!(
        wrap(got - phase(11, 7)).abs() < 0.05,
        "{got} vs {}",
        phase(11, 7)
    );
}

/// The real `topsApp.xml` and `topsProc.xml` of a hyp3-isce2 run (tests/data/isce2) beside the
/// fixture's rasters: the pair's dates from the SAFE names (2018-06-28 → 2019-07-05) and B⊥
/// 7.636 m from IW3; a folder whose name says other dates is refused, naming both.
#[test]
fn isce2_dates_and_baseline_from_the_run_files() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    write_isce2_run(&run_dir);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/isce2");
    for f in ["topsApp.xml", "topsProc.xml"] {
        std::fs::copy(data.join(f), run_dir.join(f)).unwrap();
    }
    let product = open_product(&run_dir).unwrap();
    assert_eq!(product.reference_date, Some(date("2018-06-28")));
    assert_eq!(product.secondary_date, Some(date("2019-07-05")));
    assert_eq!(product.perpendicular_baseline_m, Some(7.636373874371554));
    assert_eq!(product, open_product(&run_dir.join("merged")).unwrap());

    let named = dir.path().join("20240106_20240118");
    std::fs::rename(&run_dir, &named).unwrap();
    let message = open_product(&named).unwrap_err().to_string();
    assert!(
        message.contains("2024-01-06") && message.contains("2018-06-28"),
        "{message}"
    );
}
