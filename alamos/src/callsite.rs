//! Callsites of instrumented functions and log macros: the per-annotation
//! statics that generated code checks.
//!
//! Every annotated function and every log macro owns one `static` callsite,
//! built by a `const fn` and listed in the tree's link-time registry of
//! gates, so the experiment tree knows every key before the first call. A
//! function's callsite also holds its span's metadata, its cached metric
//! handles and its experiment's root trace probability, which the tree
//! rewrites as it does the enabled state.

use std::any::Any;
use std::fmt;

use tracing::callsite::{DefaultCallsite, Identifier};
use tracing::field::{FieldSet, Value};
use tracing::metadata::Kind;
use tracing::{Metadata, Span};

use crate::level::Level;
use crate::metric::calls::{CallHandles, CallLabels};
use crate::metric::sink::{HandleCache, HandleRef, LabelSets};
use crate::sampling::{SampleRate, Trace};
use crate::tree::{Gate, Interest};

/// The names of the span fields every instrumented function records, shared
/// by every callsite's span metadata.
pub(crate) static SPAN_FIELDS: [&str; 4] = [
    "alamos.experiment",
    "code.function",
    "code.namespace",
    STATUS_FIELD,
];

/// `tracing-opentelemetry` maps this span field to the span status.
pub(crate) const STATUS_FIELD: &str = "otel.status_code";

/// The callsite of an instrumented function.
///
/// It also holds the metadata and the `tracing` callsite of the function's
/// span, so an expansion is one `static` built by a `const fn` rather than a
/// `tracing::span!` per function: the span is created by [`FnCallsite::span`],
/// one function shared by every callsite.
#[doc(hidden)]
pub struct FnCallsite {
    interest: Interest,
    sample: SampleRate,
    /// The experiment and function labels, kept as the handle cache reads
    /// them: a call passes a pointer to them, not a copy.
    names: CallLabels,
    module_path: &'static str,
    level: Level,
    span_metadata: Metadata<'static>,
    span_callsite: DefaultCallsite,
    handles: HandleCache<CallHandles>,
    label_sets: LabelSets<CallHandles>,
}

/// Where an instrumented function is, for its span's metadata: what the
/// expansion passes to [`FnCallsite::new`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Location {
    /// `experiment.name`: the span's name.
    pub span_name: &'static str,
    /// `module_path!()`: the span's target and `code.namespace`.
    pub module_path: &'static str,
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
}

impl FnCallsite {
    /// Used by generated code only: `this` is the static being built, which
    /// the span metadata and the `tracing` callsite point at each other through.
    pub const fn new(
        this: &'static FnCallsite,
        experiment: &'static str,
        function: &'static str,
        level: Level,
        location: Location,
    ) -> Self {
        FnCallsite::with_labels(this, experiment, function, level, location, &[])
    }

    /// Used by generated code only: a callsite with `labels(...)`.
    pub const fn with_labels(
        this: &'static FnCallsite,
        experiment: &'static str,
        function: &'static str,
        level: Level,
        location: Location,
        labels: &'static [&'static str],
    ) -> Self {
        FnCallsite {
            interest: Interest::new(),
            sample: SampleRate::new(),
            names: CallLabels {
                experiment,
                function,
            },
            module_path: location.module_path,
            level,
            span_metadata: Metadata::new(
                location.span_name,
                location.module_path,
                level.as_tracing(),
                Some(location.file),
                Some(location.line),
                Some(location.module_path),
                FieldSet::new(&SPAN_FIELDS, Identifier(&this.span_callsite)),
                Kind::SPAN,
            ),
            span_callsite: DefaultCallsite::new(&this.span_metadata),
            handles: HandleCache::new(),
            label_sets: LabelSets::new(labels),
        }
    }

    /// Whether calls through this callsite are instrumented right now.
    #[inline(always)]
    pub fn is_enabled(&'static self) -> bool {
        self.interest.is_enabled(self)
    }

    /// Whether a call through this callsite is traced: the decision in
    /// scope (a traced or untraced call around it, an entered remote
    /// context), else a draw with the experiment's root probability. At
    /// probability 1 that is a thread-local load, an atomic load and a branch.
    #[inline(always)]
    pub fn trace(&'static self) -> Trace {
        Trace::decide(&self.sample)
    }

    /// [`FnCallsite::trace`] with a root's draw inlined: for the out-of-line
    /// start of a synchronous call.
    #[inline(always)]
    pub(crate) fn trace_inline(&'static self) -> Trace {
        Trace::decide_inline(&self.sample)
    }

    /// [`FnCallsite::trace`], and whether the call is a root: no decision
    /// was in scope.
    #[inline(always)]
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn trace_root(&'static self) -> (Trace, bool) {
        Trace::decide_root(&self.sample)
    }

    /// The span of a call without one (untraced, or no subscriber wants
    /// its span): with `otel`, disabled but naming this callsite's
    /// metadata, so the end of an untraced root that fails finds its
    /// callsite (`crate::failure`) in a word the span has anyway; without,
    /// none. Either enters, exits and drops as `Span::none()` does.
    #[inline(always)]
    #[cfg_attr(not(feature = "otel"), allow(clippy::unused_self))]
    pub(crate) fn spanless(&'static self) -> Span {
        #[cfg(feature = "otel")]
        {
            Span::new_disabled(&self.span_metadata)
        }
        #[cfg(not(feature = "otel"))]
        {
            Span::none()
        }
    }

    /// The metadata of this callsite's span.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn span_metadata(&'static self) -> &'static Metadata<'static> {
        &self.span_metadata
    }

    /// The module path: the span's `code.namespace`.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// A new span for a call, with the standard fields, or a disabled span
    /// when no subscriber wants it: what `tracing::span!` does, for the
    /// metadata of this callsite.
    #[inline]
    pub fn span(&'static self) -> Span {
        let metadata = &self.span_metadata;
        let level = *metadata.level();
        if level > tracing::level_filters::STATIC_MAX_LEVEL
            || level > tracing::level_filters::LevelFilter::current()
        {
            return Span::none();
        }
        let interest = self.span_callsite.interest();
        if interest.is_never()
            || (!interest.is_always()
                && !tracing::dispatcher::get_default(|dispatch| dispatch.enabled(metadata)))
        {
            return Span::none();
        }
        let fields = metadata.fields();
        let mut names = fields.iter();
        let (Some(experiment), Some(function), Some(namespace), Some(status)) =
            (names.next(), names.next(), names.next(), names.next())
        else {
            // The metadata is built with the four standard fields above.
            return Span::none();
        };
        Span::new(
            metadata,
            &fields.value_set(&[
                (&experiment, Some(&self.names.experiment as &dyn Value)),
                (&function, Some(&self.names.function as &dyn Value)),
                (&namespace, Some(&self.module_path as &dyn Value)),
                (&status, None),
            ]),
        )
    }

    /// The experiment key.
    pub fn experiment(&self) -> &'static str {
        self.names.experiment
    }

    /// The metric handles of a call with these `labels(...)` values (none
    /// for a callsite without labels).
    #[inline]
    pub(crate) fn call_handles(&self, labels: &[&dyn fmt::Display]) -> HandleRef<CallHandles> {
        if labels.is_empty() {
            self.handles.get(&self.names)
        } else {
            self.label_sets.get(&self.names, labels)
        }
    }

    /// The cached metric handles of a call without `labels(...)` values,
    /// when cached for the calling thread's recorder.
    #[inline(always)]
    pub(crate) fn cached_call_handles(&self) -> Option<&'static CallHandles> {
        self.handles.cached()
    }

    /// The `function` label: `Type::method` or the fn name.
    pub fn function(&self) -> &'static str {
        self.names.function
    }

    /// The callsite's level.
    pub fn level(&self) -> Level {
        self.level
    }
}

impl Gate for FnCallsite {
    fn experiment(&self) -> &'static str {
        self.names.experiment
    }
    fn level(&self) -> Level {
        self.level
    }
    fn interest(&self) -> &Interest {
        &self.interest
    }
    fn trace_sample(&self) -> Option<&SampleRate> {
        Some(&self.sample)
    }
    fn enabled(&self) {
        // A labelled callsite's series depend on values only calls provide.
        if self.label_sets.names().is_empty() {
            self.handles.preregister(&self.names);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl fmt::Debug for FnCallsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCallsite")
            .field("experiment", &self.names.experiment)
            .field("function", &self.names.function)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// The callsite of a log macro.
///
/// The experiment is found through the scope of the enclosing instrumented
/// function, which the key cannot be named in a `const` from, hence the fn.
#[doc(hidden)]
pub struct LogCallsite {
    interest: Interest,
    experiment: fn() -> &'static str,
    level: Level,
}

impl LogCallsite {
    /// Used by generated code only.
    pub const fn new(level: Level, experiment: fn() -> &'static str) -> Self {
        LogCallsite {
            interest: Interest::new(),
            experiment,
            level,
        }
    }

    /// Whether this log statement is emitted right now.
    #[inline(always)]
    pub fn is_enabled(&'static self) -> bool {
        self.interest.is_enabled(self)
    }

    /// The key of the enclosing experiment; empty for the root.
    pub fn experiment(&self) -> &'static str {
        (self.experiment)()
    }
}

impl Gate for LogCallsite {
    fn experiment(&self) -> &'static str {
        (self.experiment)()
    }
    fn level(&self) -> Level {
        self.level
    }
    fn interest(&self) -> &Interest {
        &self.interest
    }
    fn names_experiment(&self) -> bool {
        false
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl fmt::Debug for LogCallsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogCallsite")
            .field("experiment", &self.experiment())
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}
