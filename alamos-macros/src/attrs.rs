//! Which attributes are alamos's own: what the validation takes off an
//! item, the fallback strips after an error, and the nesting pass marks.

use syn::Attribute;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrKind {
    Experiment,
    Level,
    Skip,
}

/// Recognizes `alamos::x`, `::alamos::x` and an imported `x`.
pub(crate) fn alamos_attr(attr: &Attribute) -> Option<AttrKind> {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let name = match segments.as_slice() {
        [name] => name,
        [krate, name] if krate == "alamos" => name,
        _ => return None,
    };
    match name.as_str() {
        "experiment" => Some(AttrKind::Experiment),
        "level" => Some(AttrKind::Level),
        "skip" => Some(AttrKind::Skip),
        _ => None,
    }
}

pub(crate) fn is_experiment_attr(attr: &Attribute) -> bool {
    alamos_attr(attr) == Some(AttrKind::Experiment)
}
