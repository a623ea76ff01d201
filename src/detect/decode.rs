//! Head decoding lives with the model contract ([`crate::model::decode`]), since engines below
//! detection decode too; it is re-exported here with the suppression detection applies after it.

pub use super::suppress::nms;
pub use crate::model::decode::*;
