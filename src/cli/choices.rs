//! The command line's words for the library's choices. The library's enums know nothing of clap;
//! each choice here is a `clap::ValueEnum` with the spelling and help the CLI shows, and converts
//! into the library's type.

/// A CLI choice `$arg` mirroring the library enum `$lib` variant by variant.
macro_rules! choice {
    ($(#[$meta:meta])* $arg:ident => $lib:ty { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
        pub(crate) enum $arg {
            $($(#[$vmeta])* $variant),+
        }

        impl From<$arg> for $lib {
            fn from(choice: $arg) -> Self {
                match choice {
                    $($arg::$variant => <$lib>::$variant),+
                }
            }
        }
    };
}

choice! {
    /// Inference backend.
    BackendArg => fringewatch::engine::Backend {
        /// A hardware GPU when there is one, else tract on the CPU (software Vulkan adapters such
        /// as lavapipe are slower than tract and are not taken)
        Auto,
        /// The GPU engine on any adapter, software ones included; tract when there is none
        Gpu,
        /// tract on the CPU
        Cpu,
    }
}

choice! {
    /// Symmetries of each tile the detector also sees (test-time augmentation).
    AugmentArg => fringewatch::engine::augmented::TestTimeAugmentation {
        /// The tile as it is (one pass of the network)
        Off,
        /// The tile and its conjugate φ → −φ: the sign of an interferogram is a processor's
        /// convention (two passes)
        Sign,
        /// The tile mirrored left-right, top-bottom and both ways (four passes)
        Mirrors,
        /// Both signs, each mirrored left-right, top-bottom and both ways (eight passes)
        SignAndMirrors,
    }
}

choice! {
    /// The reference each tile's phase is seen in.
    PhaseReferenceArg => fringewatch::model::phase_input::PhaseReference {
        /// The phase as the interferogram gives it
        AsGiven,
        /// Each tile referenced to its own circular mean, so that a constant offset of the
        /// phase does not move the boxes
        TileMean,
    }
}

choice! {
    /// Network size.
    ArchitectureArg => fringewatch::model::yolov3::Architecture {
        /// Width 0.25, depth 0.33: ~2.4 M parameters, ~0.39 GFLOPs per 160×160 tile
        Compact,
        /// The full Darknet-53 YOLOv3: ~61.5 M parameters, ~9.7 GFLOPs per 160×160 tile
        Full,
    }
}

choice! {
    /// What the first convolution reads of the phase.
    PhaseInputArg => fringewatch::model::phase_input::PhaseInput {
        /// The normalised phase φ/σ is the first input channel (models before v4)
        Scaled,
        /// (cos φ, sin φ) computed inside the graph: four channels cos φ, sin φ, ISL, PC1
        CosSin,
    }
}

choice! {
    /// A split of a dataset.
    SplitArg => fringewatch::dataset::evaluate::Split {
        Train,
        Validation,
        Test,
    }
}

choice! {
    /// Satellite pass direction.
    OrbitArg => fringewatch::simulate::Orbit {
        #[value(name = "asc")]
        Ascending,
        #[value(name = "desc")]
        Descending,
    }
}

/// Finite-difference method for slope and aspect.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum GradientArg {
    /// Zevenbergen & Thorne 1987 (SAGA's default)
    Zt,
    /// Horn 1981 (gdaldem's default)
    Horn,
}

impl From<GradientArg> for fringewatch::terrain::GradientMethod {
    fn from(g: GradientArg) -> Self {
        match g {
            GradientArg::Zt => Self::ZevenbergenThorne,
            GradientArg::Horn => Self::Horn,
        }
    }
}

/// Terrain ruggedness index definition.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum TriArg {
    /// SAGA ta_morphometry 16 defaults
    Saga,
    /// Riley et al. 1999 (gdaldem)
    Riley,
}

impl From<TriArg> for fringewatch::terrain::TriMethod {
    fn from(t: TriArg) -> Self {
        match t {
            TriArg::Saga => Self::Saga,
            TriArg::Riley => Self::Riley,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    fn names<T: ValueEnum>() -> Vec<String> {
        T::value_variants()
            .iter()
            .map(|v| v.to_possible_value().unwrap().get_name().to_string())
            .collect()
    }

    /// The CLI spells every library choice as before the mirror existed (scripts keep working),
    /// and each maps to the library's variant of the same name.
    #[test]
    fn choices_keep_their_spellings_and_map_one_to_one() {
        assert_eq!(names::<BackendArg>(), ["auto", "gpu", "cpu"]);
        assert_eq!(names::<ArchitectureArg>(), ["compact", "full"]);
        assert_eq!(names::<PhaseInputArg>(), ["scaled", "cos-sin"]);
        assert_eq!(
            names::<AugmentArg>(),
            ["off", "sign", "mirrors", "sign-and-mirrors"]
        );
        assert_eq!(names::<SplitArg>(), ["train", "validation", "test"]);
        assert_eq!(names::<OrbitArg>(), ["asc", "desc"]);
        use fringewatch::engine::Backend;
        assert_eq!(Backend::from(BackendArg::Gpu), Backend::Gpu);
        assert_eq!(Backend::from(BackendArg::Cpu), Backend::Cpu);
        use fringewatch::simulate::Orbit;
        assert_eq!(Orbit::from(OrbitArg::Descending), Orbit::Descending);
        use fringewatch::model::phase_input::PhaseInput;
        assert_eq!(PhaseInput::from(PhaseInputArg::CosSin), PhaseInput::CosSin);
    }
}
