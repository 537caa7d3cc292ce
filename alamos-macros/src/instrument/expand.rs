//! Tokens for a checked instrument: a `static` callsite, its entry in the
//! link-time registry, and the update behind one enabled check.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, ToTokens};
use syn::Expr;

use super::args::{InstrumentArgs, Kind, UnitName, Update};
use crate::args::LevelName;
use crate::strip::{self, Presence};

/// The name Prometheus conventions give the metric: a unit suffix, and
/// `_total` for a counter.
pub(crate) fn exported_name(kind: Kind, name: &str, unit: Option<&UnitName>) -> String {
    let unit = unit.map(|unit| match unit {
        UnitName::Bytes => "bytes",
        UnitName::Seconds => "seconds",
    });
    let stem = match kind {
        Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
        Kind::Gauge | Kind::Histogram => name,
    };
    let mut exported = stem.to_owned();
    if let Some(unit) = unit {
        if !stem.ends_with(&format!("_{unit}")) && stem != unit {
            exported.push('_');
            exported.push_str(unit);
        }
    }
    if kind == Kind::Counter {
        exported.push_str("_total");
    }
    exported
}

/// The instrument's tokens, honouring the compile-time ceiling.
pub(crate) fn expand(args: &InstrumentArgs, kind: Kind) -> TokenStream {
    let level = args.level.map_or(LevelName::Prod, |level| level.name);
    match strip::presence(level) {
        Presence::Never => unused(args),
        Presence::Always => instrument(args, kind, level),
        // Stripped in a release build: there too its values stay named.
        Presence::DebugOnly => {
            let instrument = instrument(args, kind, level);
            let unused = unused(args);
            quote!({
                #[cfg(debug_assertions)]
                #instrument
                #[cfg(not(debug_assertions))]
                #unused
            })
        }
    }
}

/// A stripped instrument: nothing runs and no name is kept, but the values
/// stay type-checked and their variables used (`strip::kept_named`), so
/// that stripping adds no warnings.
fn unused(args: &InstrumentArgs) -> TokenStream {
    let value = match &args.update {
        Update::Set(value) | Update::Add(value) | Update::Subtract(value) => value,
    };
    let labels = args.labels.iter().map(|(_, value)| value.to_token_stream());
    let named = strip::kept_named(std::iter::once(value.to_token_stream()).chain(labels));
    quote!({ #named })
}

fn instrument(args: &InstrumentArgs, kind: Kind, level: LevelName) -> TokenStream {
    let written = &args.name;
    let name = Literal::string(&exported_name(kind, &written.value(), args.unit.as_ref()));
    let kind_tokens = match kind {
        Kind::Counter => quote!(::alamos::__private::Kind::Counter),
        Kind::Gauge => quote!(::alamos::__private::Kind::Gauge),
        Kind::Histogram => quote!(::alamos::__private::Kind::Histogram),
    };
    let experiment = args.experiment.as_ref().map_or_else(
        || {
            quote!(::alamos::__private::ExperimentOf::Scope(|| {
                (&&&&&&&&::alamos::__private::Scope).__alamos_experiment()
            }))
        },
        |key| quote!(::alamos::__private::ExperimentOf::Key(#key)),
    );
    let (level, _) = crate::expand::level_tokens(level);
    let unit = match args.unit.as_ref() {
        Some(UnitName::Bytes) => quote!(::core::option::Option::Some(
            ::alamos::__private::Unit::Bytes
        )),
        Some(UnitName::Seconds) => quote!(::core::option::Option::Some(
            ::alamos::__private::Unit::Seconds
        )),
        None => quote!(::core::option::Option::None),
    };
    let help = args.describe.as_ref().map_or_else(
        || {
            let prefix = format!("Recorded by alamos::{}! in ", kind.macro_name());
            quote!(::core::concat!(#prefix, ::core::module_path!(), "."))
        },
        |help| quote!(#help),
    );
    let buckets = buckets(args, kind);
    let label_names = args.labels.iter().map(|(label, _)| {
        let name = label.to_string();
        Literal::string(name.strip_prefix("r#").unwrap_or(&name))
    });
    let label_values = args.labels.iter().map(|(_, value)| value);
    let labels = quote!(&[#(&(#label_values) as &dyn ::core::fmt::Display),*]);
    let update = match (&args.update, kind) {
        (Update::Set(value), Kind::Counter) => quote!(increment(#value, #labels)),
        (Update::Set(value), Kind::Gauge) => quote!(set(#value, #labels)),
        (Update::Add(value), _) => quote!(add(#value, #labels)),
        (Update::Subtract(value), _) => quote!(add(-(#value), #labels)),
        (Update::Set(value), Kind::Histogram) => quote!(record(#value, #labels)),
    };
    let callsite = syn::Ident::new("__ALAMOS_INSTRUMENT", Span::mixed_site());
    quote! {{
        static #callsite: ::alamos::__private::InstrumentCallsite =
            ::alamos::__private::InstrumentCallsite::new(::alamos::__private::InstrumentSpec {
                kind: #kind_tokens,
                name: #name,
                written: #written,
                experiment: #experiment,
                level: #level,
                unit: #unit,
                help: #help,
                buckets: #buckets,
                labels: &[#(#label_names),*],
            });
        #[::alamos::__private::linkme::distributed_slice(::alamos::__private::GATES)]
        #[linkme(crate = ::alamos::__private::linkme)]
        static __ALAMOS_INSTRUMENT_REF: &dyn ::alamos::__private::Gate = &#callsite;
        if #callsite.is_enabled() {
            #callsite.#update;
        }
    }}
}

/// The bounds of a histogram: a literal list as `f64`s, a constant as
/// written, or the preset of its unit.
fn buckets(args: &InstrumentArgs, kind: Kind) -> TokenStream {
    if kind != Kind::Histogram {
        return quote!(&[]);
    }
    match &args.buckets {
        Some(Expr::Array(array)) => {
            let bounds = array.elems.iter().map(|elem| {
                // Checked by `valid::buckets` to be a number literal.
                let value = super::valid::literal_number(elem).unwrap_or(0.0);
                Literal::f64_suffixed(value)
            });
            quote!(&[#(#bounds),*])
        }
        Some(other) => quote!(#other),
        None => match args.unit.as_ref() {
            Some(UnitName::Seconds) => quote!(::alamos::buckets::DURATIONS),
            Some(UnitName::Bytes) => quote!(::alamos::buckets::BYTES),
            None => quote!(::alamos::buckets::COUNTS),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let bytes = Some(&UnitName::Bytes);
        assert_eq!(
            exported_name(Kind::Counter, "frame_writer_bytes", bytes),
            "frame_writer_bytes_total"
        );
        assert_eq!(
            exported_name(Kind::Counter, "written", bytes),
            "written_bytes_total"
        );
        assert_eq!(
            exported_name(Kind::Counter, "gc_runs", None),
            "gc_runs_total"
        );
        assert_eq!(
            exported_name(Kind::Counter, "gc_runs_total", None),
            "gc_runs_total"
        );
        assert_eq!(
            exported_name(Kind::Counter, "sent_bytes_total", bytes),
            "sent_bytes_total"
        );
        assert_eq!(
            exported_name(Kind::Histogram, "frame_size", bytes),
            "frame_size_bytes"
        );
        assert_eq!(
            exported_name(Kind::Histogram, "flush", Some(&UnitName::Seconds)),
            "flush_seconds"
        );
        assert_eq!(
            exported_name(Kind::Gauge, "relay_queue_depth", None),
            "relay_queue_depth"
        );
    }
}
