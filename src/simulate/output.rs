//! Writing a simulated scene: rasters, `scene.json`, `truth.gpkg` (labelled boxes) and
//! `inventory.gpkg` (IFFI-like outlines of mapped bodies), into a directory that appears only once
//! complete.

use std::path::{Path, PathBuf};

use super::{Scene, SignalClass};
use crate::error::{Error, Result};
use crate::progress::Silent;
use crate::raster::io::write_single_band;
use crate::vector::gpkg::{write_layer, WriteOptions};
use crate::vector::{FieldKind, FieldSpec, LayerSpec, PolygonFeature, Value};

pub use crate::raster::keys;

/// IFFI movement-type code (`tipo_movimento`) for a class.
pub fn iffi_code(class: SignalClass) -> i64 {
    match class {
        SignalClass::Earthflow => 4,  // Colamento lento
        SignalClass::Earthslide => 2, // Scivolamento rotazionale/traslativo
        SignalClass::Rockslide => 7,  // Complesso
        SignalClass::Artifact => 0,
    }
}

/// The inventory id of body `body_id` of scene number `scene_index` (10 digits, as IFFI ids).
pub fn id_frana(scene_index: usize, body_id: u32) -> String {
    format!("{:05}{:05}", scene_index % 100_000, body_id)
}

/// Identifier of the interferogram of a scene.
pub fn interferogram_id(scene: &Scene) -> String {
    let d = &scene.description;
    format!(
        "sim_{}_{}_{}",
        if d.orbit == super::Orbit::Ascending {
            "asc"
        } else {
            "desc"
        },
        d.primary_date.format("%Y%m%d"),
        d.secondary_date.format("%Y%m%d")
    )
}

/// The `truth.gpkg` field holding each label's visible peak phase, radians (what
/// `dataset --dont-care-below-rad` and `evaluate --dont-care-below-rad` read).
pub const VISIBLE_PEAK_FIELD: &str = "visible_peak_rad";

/// Fields of `truth.gpkg`.
pub fn truth_fields() -> Vec<FieldSpec> {
    vec![
        FieldSpec::new("class", FieldKind::Text),
        FieldSpec::new("velocity_m_yr", FieldKind::Real),
        FieldSpec::new("peak_phase_rad", FieldKind::Real),
        FieldSpec::new(VISIBLE_PEAK_FIELD, FieldKind::Real),
        FieldSpec::new("mean_coherence", FieldKind::Real),
        FieldSpec::new("fringe_fidelity", FieldKind::Real),
        FieldSpec::new("id_frana", FieldKind::Text),
        FieldSpec::new("mapped", FieldKind::Integer),
    ]
}

/// Write `scene` into `out_dir/name` (created; must not exist).
pub fn write_scene(scene: &Scene, out_dir: &Path, scene_index: usize) -> Result<PathBuf> {
    let name = &scene.description.name;
    let target = out_dir.join(name);
    if target.exists() {
        return Err(Error::Output {
            path: target,
            problem: "already exists; choose another `out` folder or remove it".into(),
        });
    }
    let partial = out_dir.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|source| Error::io(&partial, source))?;
    let result = write_files(scene, &partial, scene_index).and_then(|_| {
        std::fs::rename(&partial, &target).map_err(|source| Error::io(&target, source))
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    result.map(|_| target)
}

fn write_files(scene: &Scene, dir: &Path, scene_index: usize) -> Result<()> {
    let d = &scene.description;
    let grid = &scene.grid;
    let metadata = vec![
        (keys::INTERFEROGRAM_ID, interferogram_id(scene)),
        (
            keys::PRIMARY_DATE,
            d.primary_date.format("%Y-%m-%d").to_string(),
        ),
        (
            keys::SECONDARY_DATE,
            d.secondary_date.format("%Y-%m-%d").to_string(),
        ),
        (keys::ORBIT, d.orbit.code().to_string()),
        (keys::HEADING_DEG, format!("{}", d.heading_deg)),
        (
            keys::TEMPORAL_BASELINE_DAYS,
            d.temporal_baseline_days.to_string(),
        ),
        (
            keys::PERPENDICULAR_BASELINE_M,
            format!("{:.3}", d.perpendicular_baseline_m),
        ),
        (keys::WAVELENGTH_M, format!("{}", d.wavelength_m)),
    ];
    write_single_band(
        &dir.join("phase.tif"),
        grid,
        scene.phase.view(),
        "phase",
        &metadata,
    )?;
    write_single_band(
        &dir.join("coherence.tif"),
        grid,
        scene.coherence.view(),
        "coherence",
        &[],
    )?;
    write_single_band(
        &dir.join("dem.tif"),
        grid,
        scene.dem.view(),
        "elevation",
        &[],
    )?;
    write_single_band(
        &dir.join("incidence.tif"),
        grid,
        scene.incidence_deg.view(),
        "incidence",
        &[],
    )?;

    let mut json =
        serde_json::to_value(d).map_err(|e| Error::parameter("scene.json", e.to_string()))?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("interferogram_id".into(), interferogram_id(scene).into());
        obj.insert(
            "signals".into(),
            serde_json::to_value(&scene.signals).unwrap_or_default(),
        );
        obj.insert(
            "bodies_detail".into(),
            serde_json::to_value(&scene.bodies).unwrap_or_default(),
        );
    }
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| Error::parameter("scene.json", e.to_string()))?;
    std::fs::write(dir.join("scene.json"), text)
        .map_err(|source| Error::io(dir.join("scene.json"), source))?;

    // Reproducible GeoPackages: their `last_change` is the secondary date, not the clock.
    let options = WriteOptions {
        overwrite: false,
        timestamp: Some(format!("{}T00:00:00Z", d.secondary_date.format("%Y-%m-%d"))),
        ..Default::default()
    };
    let truth: Vec<PolygonFeature> = scene
        .signals
        .iter()
        .filter(|s| s.visible)
        .map(|s| {
            let (x0, y0) = grid.pixel_to_map(s.box_px[0] as f64, s.box_px[3] as f64);
            let (x1, y1) = grid.pixel_to_map(s.box_px[2] as f64, s.box_px[1] as f64);
            let body = s
                .body_id
                .and_then(|id| scene.bodies.iter().find(|b| b.id == id));
            PolygonFeature::rectangle(
                x0.min(x1),
                y0.min(y1),
                x0.max(x1),
                y0.max(y1),
                vec![
                    Value::Text(s.class.code().into()),
                    s.velocity_m_per_yr.map(Value::Real).unwrap_or(Value::Null),
                    Value::Real(s.peak_phase_rad),
                    Value::Real(s.visible_peak_rad),
                    Value::Real(s.mean_coherence),
                    Value::Real(s.fringe_fidelity),
                    match body {
                        Some(b) if b.mapped => Value::Text(id_frana(scene_index, b.id)),
                        _ => Value::Null,
                    },
                    match body {
                        Some(b) => Value::Integer(i64::from(b.mapped)),
                        None => Value::Null,
                    },
                ],
            )
        })
        .collect();
    let truth_spec = LayerSpec {
        name: "truth".into(),
        crs: grid.crs.wkt.clone(),
        fields: truth_fields(),
    };
    write_layer(
        &dir.join("truth.gpkg"),
        &truth_spec,
        &truth,
        &options,
        &Silent,
    )?;

    let inventory_spec = LayerSpec {
        name: "inventory".into(),
        crs: grid.crs.wkt.clone(),
        fields: vec![
            FieldSpec::new("id_frana", FieldKind::Text),
            FieldSpec::new("tipo_movimento", FieldKind::Integer),
            FieldSpec::new("nome_tipo", FieldKind::Text),
            FieldSpec::new("stato", FieldKind::Text),
            FieldSpec::new("attiva", FieldKind::Integer),
            FieldSpec::new("classe", FieldKind::Text),
        ],
    };
    let class_settings = |c: SignalClass| match c {
        SignalClass::Earthflow => &d.settings.landslides.earthflow,
        SignalClass::Earthslide => &d.settings.landslides.earthslide,
        _ => &d.settings.landslides.rockslide,
    };
    let inventory: Vec<PolygonFeature> = scene
        .bodies
        .iter()
        .filter(|b| b.mapped)
        .map(|b| PolygonFeature {
            ring: b.outline(),
            values: vec![
                Value::Text(id_frana(scene_index, b.id)),
                Value::Integer(iffi_code(b.class)),
                Value::Text(class_settings(b.class).iffi_type.clone()),
                Value::Text(if b.active { "attivo" } else { "quiescente" }.into()),
                Value::Integer(i64::from(b.active)),
                Value::Text(b.class.code().into()),
            ],
        })
        .collect();
    write_layer(
        &dir.join("inventory.gpkg"),
        &inventory_spec,
        &inventory,
        &options,
        &Silent,
    )?;
    Ok(())
}
