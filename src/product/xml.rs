//! Processor metadata in XML (ISCE2's `topsApp.xml`, `topsProc.xml`) read with GDAL's own XML
//! parser (`CPLParseXMLFile`, cpl_minixml), flattened to (path, text) pairs: element names
//! joined by `/`, an element with a `name` attribute written `element[name]`, e.g.
//! `topsApp/component[topsinsar]/component[reference]/property[safe]`.

use std::ffi::{CStr, CString};
use std::path::Path;

use gdal_sys::{CPLXMLNode, CPLXMLNodeType};

use crate::error::{Error, Result};

/// Every element of the XML file `path` that holds text, as (path, text), in document order.
pub fn flatten_xml(path: &Path) -> Result<Vec<(String, String)>> {
    let c_path = CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| Error::bad_input(path, "the path holds a NUL byte"))?;
    // SAFETY: a NUL-terminated path; the tree is owned here and destroyed below.
    let root = unsafe { gdal_sys::CPLParseXMLFile(c_path.as_ptr()) };
    if root.is_null() {
        return Err(Error::bad_input(path, "not an XML file GDAL can parse"));
    }
    let mut entries = Vec::new();
    // SAFETY: `root` is a valid tree from CPLParseXMLFile, walked read-only before its destruction.
    unsafe {
        let mut node = root;
        while !node.is_null() {
            walk(node, "", &mut entries);
            node = (*node).psNext;
        }
        gdal_sys::CPLDestroyXMLNode(root);
    }
    Ok(entries)
}

/// The text of a node's value, or "".
unsafe fn value(node: *const CPLXMLNode) -> String {
    let v = (*node).pszValue;
    if v.is_null() {
        String::new()
    } else {
        CStr::from_ptr(v).to_string_lossy().into_owned()
    }
}

/// Push the text of element `node` (and of its descendants) under `parent`'s path.
unsafe fn walk(node: *const CPLXMLNode, parent: &str, entries: &mut Vec<(String, String)>) {
    if (*node).eType != CPLXMLNodeType::CXT_Element {
        return;
    }
    let mut name = value(node);
    let mut text = String::new();
    let mut child = (*node).psChild as *const CPLXMLNode;
    while !child.is_null() {
        match (*child).eType {
            CPLXMLNodeType::CXT_Attribute if value(child) == "name" => {
                let attribute = (*child).psChild;
                if !attribute.is_null() {
                    name = format!("{name}[{}]", value(attribute));
                }
            }
            CPLXMLNodeType::CXT_Text => text.push_str(&value(child)),
            _ => {}
        }
        child = (*child).psNext;
    }
    let path = if parent.is_empty() {
        name
    } else {
        format!("{parent}/{name}")
    };
    let text = text.trim();
    if !text.is_empty() {
        entries.push((path.clone(), text.to_string()));
    }
    let mut child = (*node).psChild as *const CPLXMLNode;
    while !child.is_null() {
        walk(child, &path, entries);
        child = (*child).psNext;
    }
}
