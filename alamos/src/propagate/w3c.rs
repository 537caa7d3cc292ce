//! The W3C header formats, as pure functions: `traceparent` and `tracestate`
//! ([Trace Context]) and `baggage` ([Baggage]).
//!
//! Nothing here allocates more than its input's size, panics, or logs: every
//! function maps a string to a value or to an error that says what was wrong,
//! so the parsers can be fuzzed and the callers decide what to report.
//!
//! [Trace Context]: https://www.w3.org/TR/trace-context/
//! [Baggage]: https://www.w3.org/TR/baggage/

use std::error::Error;
use std::fmt::{self, Write as _};

/// The `traceparent` version this crate writes.
const VERSION: u8 = 0;
/// The length of a version-00 `traceparent`: `vv-<32>-<16>-ff`.
pub(crate) const TRACEPARENT_LEN: usize = 55;
/// At most this many `tracestate` list members.
const TRACESTATE_MAX_MEMBERS: usize = 32;
/// At most this many `baggage` list members, as the OpenTelemetry SDKs allow.
const BAGGAGE_MAX_MEMBERS: usize = 180;
/// At most this many bytes in a `baggage` header.
const BAGGAGE_MAX_BYTES: usize = 8192;

/// A parsed W3C `traceparent`: which trace a request belongs to and which
/// span sent it.
///
/// The ids are never all zero. The flags byte is kept as received: bit 0 is
/// *sampled*, bit 1 is Trace Context Level 2's *random trace id* (the Python
/// SDK sends `03`), and the other bits are kept for whoever reads them next.
///
/// ```
/// use alamos::context::TraceParent;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";
/// let parent = TraceParent::parse(header).unwrap();
/// assert!(parent.is_sampled());
/// assert_eq!(parent.to_string(), header);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl TraceParent {
    /// A trace parent from its parts; `None` if either id is all zero, which
    /// W3C Trace Context forbids.
    pub fn new(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Option<Self> {
        (trace_id != [0; 16] && parent_id != [0; 8]).then_some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Parses a `traceparent` header value.
    ///
    /// Version `00` must be exactly `00-<32 hex>-<16 hex>-<2 hex>`. A later
    /// version is read the same way and may carry more `-`-separated fields
    /// after the flags, which are ignored, as the specification asks. Hex is
    /// lowercase. Spaces and tabs around the value are ignored.
    ///
    /// # Errors
    ///
    /// Version `ff`, a version that is not hex, a wrong length, a missing
    /// `-`, a field that is not lowercase hex, and an all-zero trace id or
    /// parent id are rejected with the reason.
    pub fn parse(header: &str) -> Result<Self, TraceParentError> {
        TraceParent::parse_bytes(header.as_bytes())
    }

    /// [`TraceParent::parse`] over the header's bytes, which a version `00`
    /// value accepted here shows to be visible ASCII: an HTTP header value
    /// needs no `to_str` pass first.
    pub(crate) fn parse_bytes(header: &[u8]) -> Result<Self, TraceParentError> {
        let start = header
            .iter()
            .position(|&b| !is_ows_byte(b))
            .unwrap_or(header.len());
        let end = header
            .iter()
            .rposition(|&b| !is_ows_byte(b))
            .map_or(start, |i| i + 1);
        let bytes = &header[start..end];
        if bytes.len() < 2 {
            return Err(TraceParentError::Length(bytes.len()));
        }
        let version = hex_byte(bytes[0], bytes[1]).ok_or(TraceParentError::Version)?;
        if version == 0xff {
            return Err(TraceParentError::Version);
        }
        let length_ok = match bytes.len().cmp(&TRACEPARENT_LEN) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => true,
            // Only a later version may append fields, and only after a `-`.
            std::cmp::Ordering::Greater => version != VERSION && bytes[TRACEPARENT_LEN] == b'-',
        };
        if !length_ok {
            return Err(TraceParentError::Length(bytes.len()));
        }
        for at in [2, 35, 52] {
            if bytes[at] != b'-' {
                return Err(TraceParentError::Delimiter(at));
            }
        }
        let mut trace_id = [0; 16];
        decode_hex(&bytes[3..35], &mut trace_id).ok_or(TraceParentError::NotHex("trace-id"))?;
        let mut parent_id = [0; 8];
        decode_hex(&bytes[36..52], &mut parent_id).ok_or(TraceParentError::NotHex("parent-id"))?;
        let flags =
            hex_byte(bytes[53], bytes[54]).ok_or(TraceParentError::NotHex("trace-flags"))?;
        if trace_id == [0; 16] {
            return Err(TraceParentError::ZeroTraceId);
        }
        if parent_id == [0; 8] {
            return Err(TraceParentError::ZeroParentId);
        }
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The trace id: 16 bytes, not all zero.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The id of the span that sent the request: 8 bytes, not all zero.
    pub fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The trace flags, as received.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the sender recorded its span (flag bit 0).
    pub fn is_sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id in the 32 lowercase hex digits of the header.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The parent id in the 16 lowercase hex digits of the header.
    pub fn parent_id_hex(&self) -> String {
        hex(&self.parent_id)
    }
}

/// The header value, always version `00`.
impl fmt::Display for TraceParent {
    /// The header, written in one piece from a buffer on the stack: a
    /// client writes one per request, untraced ones too (issue 17).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut header = [b'-'; TRACEPARENT_LEN];
        encode_hex(&[VERSION], &mut header[..2]);
        encode_hex(&self.trace_id, &mut header[3..35]);
        encode_hex(&self.parent_id, &mut header[36..52]);
        encode_hex(&[self.flags], &mut header[53..]);
        // Never an error: hex digits and `-` are ASCII.
        f.write_str(std::str::from_utf8(&header).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

impl std::str::FromStr for TraceParent {
    type Err = TraceParentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceParent::parse(s)
    }
}

/// Why a `traceparent` was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceParentError {
    /// The value has this many bytes (after trimming spaces), which its
    /// version does not allow.
    Length(usize),
    /// The version is `ff` or not two lowercase hex digits.
    Version,
    /// There is no `-` at this byte offset.
    Delimiter(usize),
    /// This field is not lowercase hex.
    NotHex(&'static str),
    /// The trace id is all zeros.
    ZeroTraceId,
    /// The parent id is all zeros.
    ZeroParentId,
}

impl fmt::Display for TraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceParentError::Length(len) => write!(
                f,
                "wrong length: {len} bytes, expected 55 (`00-<32 hex>-<16 hex>-<2 hex>`)"
            ),
            TraceParentError::Version => f.write_str(
                "unsupported version: expected two lowercase hex digits other than `ff`",
            ),
            TraceParentError::Delimiter(at) => write!(f, "expected `-` at byte {at}"),
            TraceParentError::NotHex(field) => write!(f, "{field} is not lowercase hex"),
            TraceParentError::ZeroTraceId => f.write_str("trace-id is all zeros"),
            TraceParentError::ZeroParentId => f.write_str("parent-id is all zeros"),
        }
    }
}

impl Error for TraceParentError {}

/// A parsed W3C `tracestate`: vendor-specific `key=value` list members, in
/// order, most recently updated first.
///
/// ```
/// use alamos::context::TraceState;
///
/// let state = TraceState::parse("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7").unwrap();
/// assert_eq!(state.get("rojo"), Some("00f067aa0ba902b7"));
/// assert_eq!(state.to_string(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceState {
    members: Vec<(String, String)>,
}

impl TraceState {
    /// Parses a `tracestate` header value (several header fields joined with
    /// `,` are one value).
    ///
    /// Empty list members are skipped, as the specification allows.
    ///
    /// # Errors
    ///
    /// The whole value is rejected, as the specification asks, when a member
    /// has no `=`, a key or value outside the grammar, a key appears twice,
    /// or there are more than 32 members.
    pub fn parse(header: &str) -> Result<Self, TraceStateError> {
        let mut members: Vec<(String, String)> = Vec::new();
        for (index, member) in header.split(',').enumerate() {
            let member = member.trim_matches(is_ows);
            if member.is_empty() {
                continue;
            }
            if members.len() == TRACESTATE_MAX_MEMBERS {
                return Err(TraceStateError::TooManyMembers);
            }
            let Some((key, value)) = member.split_once('=') else {
                return Err(TraceStateError::Member(index));
            };
            if !is_tracestate_key(key) {
                return Err(TraceStateError::Key(index));
            }
            if !is_tracestate_value(value) {
                return Err(TraceStateError::Value(index));
            }
            if members.iter().any(|(existing, _)| existing == key) {
                return Err(TraceStateError::DuplicateKey(index));
            }
            members.push((key.to_owned(), value.to_owned()));
        }
        Ok(TraceState { members })
    }

    /// A trace state from key-value pairs, in order.
    ///
    /// # Errors
    ///
    /// As [`TraceState::parse`] for a list with these members.
    pub fn from_pairs<K, V>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, TraceStateError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut members: Vec<(String, String)> = Vec::new();
        for (index, (key, value)) in pairs.into_iter().enumerate() {
            let (key, value) = (key.into(), value.into());
            if members.len() == TRACESTATE_MAX_MEMBERS {
                return Err(TraceStateError::TooManyMembers);
            }
            if !is_tracestate_key(&key) {
                return Err(TraceStateError::Key(index));
            }
            if !is_tracestate_value(&value) {
                return Err(TraceStateError::Value(index));
            }
            if members.iter().any(|(existing, _)| *existing == key) {
                return Err(TraceStateError::DuplicateKey(index));
            }
            members.push((key, value));
        }
        Ok(TraceState { members })
    }

    /// The value of a vendor's key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members: nothing to send.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// The header value: members joined by `,`.
impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (key, value)) in self.members.iter().enumerate() {
            if index > 0 {
                f.write_char(',')?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

/// Why a `tracestate` was rejected; list member indexes count from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceStateError {
    /// This list member has no `=`.
    Member(usize),
    /// This list member's key is outside the grammar.
    Key(usize),
    /// This list member's value is outside the grammar.
    Value(usize),
    /// This list member repeats an earlier key.
    DuplicateKey(usize),
    /// There are more than 32 list members.
    TooManyMembers,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceStateError::Member(i) => write!(f, "list member {i} is not `key=value`"),
            TraceStateError::Key(i) => write!(f, "list member {i} has an invalid key"),
            TraceStateError::Value(i) => write!(f, "list member {i} has an invalid value"),
            TraceStateError::DuplicateKey(i) => write!(f, "list member {i} repeats a key"),
            TraceStateError::TooManyMembers => {
                write!(f, "more than {TRACESTATE_MAX_MEMBERS} list members")
            }
        }
    }
}

impl Error for TraceStateError {}

/// `lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")`, or the
/// multi-tenant `tenant@system` form.
fn is_tracestate_key(key: &str) -> bool {
    fn rest(byte: u8) -> bool {
        matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
    }
    let bytes = key.as_bytes();
    match key.split_once('@') {
        None => {
            bytes.len() <= 256
                && bytes.first().is_some_and(u8::is_ascii_lowercase)
                && bytes[1..].iter().copied().all(rest)
        }
        Some((tenant, system)) => {
            let (tenant, system) = (tenant.as_bytes(), system.as_bytes());
            (1..=241).contains(&tenant.len())
                && tenant
                    .first()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && tenant[1..].iter().copied().all(rest)
                && (1..=14).contains(&system.len())
                && system.first().is_some_and(u8::is_ascii_lowercase)
                && system[1..].iter().copied().all(rest)
        }
    }
}

/// `0*255(chr) nblk-chr`: printable ASCII but `,` and `=`, no trailing space.
fn is_tracestate_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    (1..=256).contains(&bytes.len())
        && bytes.last() != Some(&b' ')
        && bytes
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

/// A parsed W3C `baggage`: application-defined `key=value` pairs that travel
/// with a request, each with optional properties.
///
/// Values are stored decoded (the header percent-encodes them as UTF-8);
/// properties are kept as written. Keys are case-sensitive.
///
/// ```
/// use alamos::context::Baggage;
///
/// let baggage = Baggage::parse("tenant=acme, region=eu%20west;ttl=30").unwrap();
/// assert_eq!(baggage.get("region"), Some("eu west"));
/// assert_eq!(baggage.to_string(), "tenant=acme,region=eu%20west;ttl=30");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baggage {
    entries: Vec<BaggageEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct BaggageEntry {
    key: String,
    value: String,
    /// Everything after the first `;`, trimmed, or empty.
    properties: String,
}

impl Baggage {
    /// An empty baggage.
    pub fn new() -> Self {
        Baggage::default()
    }

    /// Parses a `baggage` header value (several header fields joined with
    /// `,` are one value). Empty list members are skipped. A key that
    /// appears twice keeps its last value.
    ///
    /// # Errors
    ///
    /// The whole value is rejected when it is longer than 8192 bytes, has
    /// more than 180 members, or has a member whose key is not an HTTP token,
    /// whose value has characters the grammar excludes or does not decode to
    /// UTF-8, or whose properties are malformed.
    pub fn parse(header: &str) -> Result<Self, BaggageError> {
        if header.len() > BAGGAGE_MAX_BYTES {
            return Err(BaggageError::TooLong(header.len()));
        }
        let mut baggage = Baggage::new();
        for (index, member) in header.split(',').enumerate() {
            let member = member.trim_matches(is_ows);
            if member.is_empty() {
                continue;
            }
            let (pair, properties) = match member.split_once(';') {
                Some((pair, properties)) => (pair, Some(properties.trim_matches(is_ows))),
                None => (member, None),
            };
            let (key, value) = pair.split_once('=').ok_or(BaggageError::Member(index))?;
            let (key, value) = (key.trim_matches(is_ows), value.trim_matches(is_ows));
            if !is_token(key) {
                return Err(BaggageError::Key(index));
            }
            let value = percent_decode(value).ok_or(BaggageError::Value(index))?;
            if properties.is_some_and(|properties| !properties.split(';').all(is_baggage_property))
            {
                return Err(BaggageError::Property(index));
            }
            baggage.put(
                key.to_owned(),
                value,
                properties.unwrap_or_default().to_owned(),
            );
            if baggage.entries.len() > BAGGAGE_MAX_MEMBERS {
                return Err(BaggageError::TooManyMembers);
            }
        }
        Ok(baggage)
    }

    /// Sets `key` to `value`, replacing an earlier value and its properties.
    ///
    /// # Errors
    ///
    /// A key that is not an HTTP token (letters, digits and
    /// ``!#$%&'*+-.^_`|~``) is handed back.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), InvalidBaggageKey> {
        let key = key.into();
        if !is_token(&key) {
            return Err(InvalidBaggageKey(key));
        }
        self.put(key, value.into(), String::new());
        Ok(())
    }

    fn put(&mut self, key: String, value: String, properties: String) {
        self.entries.retain(|entry| entry.key != key);
        self.entries.push(BaggageEntry {
            key,
            value,
            properties,
        });
    }

    /// The decoded value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.value.as_str())
    }

    /// The properties written after `key`'s value (`ttl=30` in
    /// `k=v;ttl=30`), if any.
    pub fn properties(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|entry| entry.key == key && !entry.properties.is_empty())
            .map(|entry| entry.properties.as_str())
    }

    /// The keys and decoded values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|entry| (entry.key.as_str(), entry.value.as_str()))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries: nothing to send.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Each entry with its properties, in order, as a
    /// `(key, value, properties)` triple.
    #[cfg(feature = "otel")]
    pub(crate) fn iter_with_properties(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.entries.iter().map(|entry| {
            (
                entry.key.as_str(),
                entry.value.as_str(),
                entry.properties.as_str(),
            )
        })
    }

    /// Sets `key` to `value` with properties written as in a header
    /// (`ttl=30;secret`); properties outside the grammar are left out.
    ///
    /// # Errors
    ///
    /// As [`Baggage::insert`].
    #[cfg(feature = "otel")]
    pub(crate) fn insert_with_properties(
        &mut self,
        key: String,
        value: String,
        properties: &str,
    ) -> Result<(), InvalidBaggageKey> {
        if !is_token(&key) {
            return Err(InvalidBaggageKey(key));
        }
        let properties = properties.trim_matches(is_ows);
        let properties = if !properties.is_empty() && properties.split(';').all(is_baggage_property)
        {
            properties.to_owned()
        } else {
            String::new()
        };
        self.put(key, value, properties);
        Ok(())
    }
}

/// The header value: values percent-encoded, properties as received.
impl fmt::Display for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, entry) in self.entries.iter().enumerate() {
            if index > 0 {
                f.write_char(',')?;
            }
            f.write_str(&entry.key)?;
            f.write_char('=')?;
            percent_encode(&entry.value, f)?;
            if !entry.properties.is_empty() {
                f.write_char(';')?;
                f.write_str(&entry.properties)?;
            }
        }
        Ok(())
    }
}

/// Why a `baggage` header was rejected; list member indexes count from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BaggageError {
    /// The header has this many bytes, more than 8192.
    TooLong(usize),
    /// There are more than 180 list members.
    TooManyMembers,
    /// This list member has no `=`.
    Member(usize),
    /// This list member's key is not an HTTP token.
    Key(usize),
    /// This list member's value has a character outside the grammar, a bad
    /// percent escape, or does not decode to UTF-8.
    Value(usize),
    /// This list member's properties are malformed.
    Property(usize),
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaggageError::TooLong(len) => write!(f, "{len} bytes, more than {BAGGAGE_MAX_BYTES}"),
            BaggageError::TooManyMembers => {
                write!(f, "more than {BAGGAGE_MAX_MEMBERS} list members")
            }
            BaggageError::Member(i) => write!(f, "list member {i} is not `key=value`"),
            BaggageError::Key(i) => write!(f, "list member {i} has a key that is not a token"),
            BaggageError::Value(i) => write!(f, "list member {i} has an invalid value"),
            BaggageError::Property(i) => write!(f, "list member {i} has malformed properties"),
        }
    }
}

impl Error for BaggageError {}

/// A baggage key that is not an HTTP token, handed back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidBaggageKey(pub String);

impl fmt::Display for InvalidBaggageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "baggage key {:?} is not an HTTP token", self.0)
    }
}

impl Error for InvalidBaggageKey {}

/// `key OWS "=" OWS value` or a bare `key`, around optional spaces.
fn is_baggage_property(property: &str) -> bool {
    let property = property.trim_matches(is_ows);
    match property.split_once('=') {
        Some((key, value)) => {
            is_token(key.trim_matches(is_ows))
                && percent_decode(value.trim_matches(is_ows)).is_some()
        }
        None => is_token(property),
    }
}

/// An RFC 7230 token: one or more `tchar`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `baggage-octet`: printable ASCII but space, `"`, `,`, `;` and `\`.
fn is_baggage_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Decodes `%XX` escapes (either case) into UTF-8; `None` for a character
/// outside `baggage-octet`, a broken escape or invalid UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let (&hi, &lo) = (bytes.get(i + 1)?, bytes.get(i + 2)?);
            out.push((hex_digit_any_case(hi)? << 4) | hex_digit_any_case(lo)?);
            i += 3;
        } else if is_baggage_octet(byte) {
            out.push(byte);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// Writes `value` with every byte outside `baggage-octet`, and `%`, escaped.
fn percent_encode(value: &str, out: &mut impl fmt::Write) -> fmt::Result {
    for byte in value.bytes() {
        if is_baggage_octet(byte) && byte != b'%' {
            out.write_char(char::from(byte))?;
        } else {
            write!(out, "%{byte:02X}")?;
        }
    }
    Ok(())
}

/// Optional whitespace, as HTTP defines it.
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_ows_byte(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn hex_digit_lowercase(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

fn hex_digit_any_case(byte: u8) -> Option<u8> {
    hex_digit_lowercase(byte.to_ascii_lowercase())
}

fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    Some((hex_digit_lowercase(hi)? << 4) | hex_digit_lowercase(lo)?)
}

/// Fills `out` from exactly `2 * out.len()` lowercase hex digits: eight
/// at a time ([`hex_u32`]), the rest a pair at a time.
fn decode_hex(digits: &[u8], out: &mut [u8]) -> Option<()> {
    let mut words = out.chunks_exact_mut(4);
    let mut eights = digits.chunks_exact(8);
    for (word, eight) in (&mut words).zip(&mut eights) {
        let eight: [u8; 8] = eight.try_into().ok()?;
        word.copy_from_slice(&hex_u32(eight)?.to_be_bytes());
    }
    let rest = eights.remainder().chunks_exact(2);
    for (byte, pair) in words.into_remainder().iter_mut().zip(rest) {
        *byte = hex_byte(pair[0], pair[1])?;
    }
    Some(())
}

/// Eight lowercase hex digits as the 32-bit number they spell, or `None`,
/// in a few word operations instead of a branch per digit: every incoming
/// `traceparent` carries 48 of them.
fn hex_u32(digits: [u8; 8]) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_be_bytes(digits);
    if x & HIGH != 0 {
        return None;
    }
    // Each byte is below 0x80 now, so none of these sums carries into the
    // next byte. `b + (0x7f - hi)` keeps its high bit clear iff `b <= hi`;
    // `b + (0x80 - lo)` sets it iff `b >= lo`.
    let in_range =
        |lo: u8, hi: u8| !(x + ONES * u64::from(0x7f - hi)) & (x + ONES * u64::from(0x80 - lo));
    if (in_range(b'0', b'9') | in_range(b'a', b'f')) & HIGH != HIGH {
        return None;
    }
    // A digit's value is its low nibble; a letter's (bit 6 set) nine more.
    let nibbles = (x & (ONES * 0x0f)) + ((x >> 6) & ONES) * 9;
    // Pack the eight nibbles, first digit highest: pairs into bytes, bytes
    // into halves, halves into the word.
    let bytes = (nibbles | (nibbles >> 4)) & 0x00ff_00ff_00ff_00ff;
    let halves = (bytes | (bytes >> 8)) & 0x0000_ffff_0000_ffff;
    let word = (halves | (halves >> 16)) & 0xffff_ffff;
    // Never `None`: the mask leaves 32 bits.
    u32::try_from(word).ok()
}

/// Lowercase hex, as the headers write ids.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    encode_hex(bytes, &mut out);
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes `bytes` as lowercase hex into `out`, two digits a byte.
fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn header(version: &str, trace: &str, span: &str, flags: &str) -> String {
        format!("{version}-{trace}-{span}-{flags}")
    }

    #[test]
    fn traceparent_valid() {
        let parent = TraceParent::parse(&header("00", TRACE, SPAN, "01")).unwrap();
        assert_eq!(parent.trace_id_hex(), TRACE);
        assert_eq!(parent.parent_id_hex(), SPAN);
        assert_eq!(parent.flags(), 1);
        assert!(parent.is_sampled());
        assert_eq!(parent.trace_id()[0], 0x4b);
        assert_eq!(parent.parent_id()[7], 0xb7);
        assert_eq!(parent.to_string(), header("00", TRACE, SPAN, "01"));
    }

    #[test]
    fn traceparent_keeps_every_flag_byte() {
        for flags in 0..=255u8 {
            let text = header("00", TRACE, SPAN, &format!("{flags:02x}"));
            let parent = TraceParent::parse(&text).unwrap();
            assert_eq!(parent.flags(), flags);
            assert_eq!(parent.is_sampled(), flags & 1 == 1);
            assert_eq!(parent.to_string(), text);
        }
        // What the Python SDK sends: sampled and random trace id.
        let python = TraceParent::parse(&header("00", TRACE, SPAN, "03")).unwrap();
        assert!(python.is_sampled());
        assert_eq!(python.flags(), 3);
        assert!(!TraceParent::parse(&header("00", TRACE, SPAN, "00"))
            .unwrap()
            .is_sampled());
    }

    #[test]
    fn traceparent_trims_optional_whitespace() {
        let text = format!(" \t{}\t ", header("00", TRACE, SPAN, "01"));
        assert_eq!(TraceParent::parse(&text).unwrap().trace_id_hex(), TRACE);
    }

    #[test]
    fn traceparent_later_versions() {
        // A later version may append fields after a `-`, and they are ignored.
        let plain = TraceParent::parse(&header("01", TRACE, SPAN, "01")).unwrap();
        let extended = TraceParent::parse(&format!(
            "{}-what-the-future-holds",
            header("cc", TRACE, SPAN, "09")
        ))
        .unwrap();
        assert_eq!(plain.trace_id_hex(), TRACE);
        assert_eq!(extended.flags(), 9);
        // We only write the version we know.
        assert_eq!(extended.to_string(), header("00", TRACE, SPAN, "09"));
        // But the appended part must start with `-`.
        assert_eq!(
            TraceParent::parse(&format!("{}x", header("01", TRACE, SPAN, "01"))),
            Err(TraceParentError::Length(56))
        );
    }

    #[test]
    fn traceparent_version_00_allows_nothing_after_the_flags() {
        assert_eq!(
            TraceParent::parse(&format!("{}-00", header("00", TRACE, SPAN, "01"))),
            Err(TraceParentError::Length(58))
        );
    }

    #[test]
    fn traceparent_rejects_bad_versions() {
        for version in ["ff", "0g", "-0", "FF", "0A", "zz"] {
            assert_eq!(
                TraceParent::parse(&header(version, TRACE, SPAN, "01")),
                Err(TraceParentError::Version),
                "{version}"
            );
        }
    }

    #[test]
    fn traceparent_rejects_zero_ids() {
        assert_eq!(
            TraceParent::parse(&header("00", &"0".repeat(32), SPAN, "01")),
            Err(TraceParentError::ZeroTraceId)
        );
        assert_eq!(
            TraceParent::parse(&header("00", TRACE, &"0".repeat(16), "01")),
            Err(TraceParentError::ZeroParentId)
        );
        assert_eq!(TraceParent::new([0; 16], [1; 8], 1), None);
        assert_eq!(TraceParent::new([1; 16], [0; 8], 1), None);
        assert!(TraceParent::new([1; 16], [1; 8], 0).is_some());
    }

    #[test]
    fn traceparent_rejects_wrong_lengths() {
        let cases = [
            String::new(),
            "0".to_owned(),
            "00".to_owned(),
            header("00", &TRACE[..31], SPAN, "01"),
            header("00", &format!("{TRACE}0"), SPAN, "01"),
            header("00", TRACE, &SPAN[..15], "01"),
            header("00", TRACE, SPAN, "1"),
            header("00", TRACE, SPAN, "001"),
            format!("{}-", header("00", TRACE, SPAN, "01")),
            "00-".repeat(100),
        ];
        for case in &cases {
            let err = TraceParent::parse(case).unwrap_err();
            assert!(
                matches!(
                    err,
                    TraceParentError::Length(_) | TraceParentError::Delimiter(_)
                ),
                "{case:?}: {err:?}"
            );
        }
        assert_eq!(TraceParent::parse(""), Err(TraceParentError::Length(0)));
    }

    #[test]
    fn traceparent_rejects_non_hex_and_uppercase() {
        let upper = TRACE.to_uppercase();
        assert_eq!(
            TraceParent::parse(&header("00", &upper, SPAN, "01")),
            Err(TraceParentError::NotHex("trace-id"))
        );
        let mut bad_span = SPAN.to_owned();
        bad_span.replace_range(3..4, "g");
        assert_eq!(
            TraceParent::parse(&header("00", TRACE, &bad_span, "01")),
            Err(TraceParentError::NotHex("parent-id"))
        );
        assert_eq!(
            TraceParent::parse(&header("00", TRACE, SPAN, "0x")),
            Err(TraceParentError::NotHex("trace-flags"))
        );
        assert_eq!(
            TraceParent::parse(&header("00", TRACE, SPAN, "0A")),
            Err(TraceParentError::NotHex("trace-flags"))
        );
    }

    #[test]
    fn traceparent_rejects_misplaced_delimiters() {
        let good = header("00", TRACE, SPAN, "01");
        for at in [2, 35, 52] {
            let mut bad = good.clone().into_bytes();
            bad[at] = b'_';
            assert_eq!(
                TraceParent::parse(std::str::from_utf8(&bad).unwrap()),
                Err(TraceParentError::Delimiter(at))
            );
        }
        // The right length with the dashes elsewhere.
        let shifted = format!("00-{TRACE}0-{SPAN}-1");
        assert_eq!(
            TraceParent::parse(&shifted),
            Err(TraceParentError::Delimiter(35))
        );
    }

    #[test]
    fn traceparent_survives_non_ascii() {
        // Multi-byte characters at the positions the parser indexes.
        let mut text = header("00", TRACE, SPAN, "01");
        text.replace_range(0..2, "é");
        assert!(TraceParent::parse(&text).is_err());
        let mut text = header("00", TRACE, SPAN, "01");
        text.replace_range(3..5, "é");
        assert_eq!(
            TraceParent::parse(&text),
            Err(TraceParentError::NotHex("trace-id"))
        );
        let text = format!("00-{}-{}-0é", &TRACE, &SPAN);
        assert!(TraceParent::parse(&text).is_err());
        assert!(TraceParent::parse("ü").is_err());
    }

    #[test]
    fn traceparent_error_messages_say_what_was_wrong() {
        let err = TraceParent::parse("00-abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "wrong length: 6 bytes, expected 55 (`00-<32 hex>-<16 hex>-<2 hex>`)"
        );
        assert_eq!(
            TraceParentError::ZeroTraceId.to_string(),
            "trace-id is all zeros"
        );
        assert!(TraceParentError::Version.to_string().contains("`ff`"));
    }

    #[test]
    fn tracestate_valid() {
        let state = TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
        assert_eq!(state.len(), 2);
        assert_eq!(state.get("rojo"), Some("00f067aa0ba902b7"));
        assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(state.get("missing"), None);
        assert_eq!(state.to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        let pairs: Vec<_> = state.iter().collect();
        assert_eq!(
            pairs,
            [("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")]
        );
    }

    #[test]
    fn tracestate_edges() {
        // Spaces around members and empty members are allowed.
        let state = TraceState::parse(" a=1 ,\t, b=2,").unwrap();
        assert_eq!(state.to_string(), "a=1,b=2");
        assert!(TraceState::parse("").unwrap().is_empty());
        assert!(TraceState::parse(" , ").unwrap().is_empty());
        // Multi-tenant keys and the full value alphabet.
        let state = TraceState::parse("fw529a3039@dt=value with spaces!~").unwrap();
        assert_eq!(state.get("fw529a3039@dt"), Some("value with spaces!~"));
        assert!(TraceState::parse("0tenant@sys=1").is_ok());
        // Exactly 32 members.
        let many: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        assert_eq!(TraceState::parse(&many.join(",")).unwrap().len(), 32);
        // Longest key and value.
        let key = format!("a{}", "b".repeat(255));
        let value = "v".repeat(256);
        assert!(TraceState::parse(&format!("{key}={value}")).is_ok());
    }

    #[test]
    fn tracestate_malformed() {
        let too_many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        let long_key = format!("a{}", "b".repeat(256));
        let long_value = format!("k={}", "v".repeat(257));
        let cases: &[(&str, TraceStateError)] = &[
            ("novalue", TraceStateError::Member(0)),
            ("a=1,novalue", TraceStateError::Member(1)),
            ("Upper=1", TraceStateError::Key(0)),
            ("1abc=1", TraceStateError::Key(0)),
            ("=1", TraceStateError::Key(0)),
            ("a b=1", TraceStateError::Key(0)),
            ("t@=1", TraceStateError::Key(0)),
            ("@s=1", TraceStateError::Key(0)),
            ("t@1s=1", TraceStateError::Key(0)),
            ("t@sssssssssssssss=1", TraceStateError::Key(0)),
            ("a=", TraceStateError::Value(0)),
            ("a=x=y", TraceStateError::Value(0)),
            ("a=tab\there", TraceStateError::Value(0)),
            ("a=é", TraceStateError::Value(0)),
            ("a=1,a=2", TraceStateError::DuplicateKey(1)),
            (&long_key, TraceStateError::Member(0)),
            (&long_value, TraceStateError::Value(0)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                TraceState::parse(input).as_ref().map_err(|e| *e),
                Err(*expected),
                "{input:?}"
            );
        }
        assert_eq!(
            TraceState::parse(&format!("{long_key}=1")),
            Err(TraceStateError::Key(0))
        );
        assert_eq!(
            TraceState::parse(&too_many.join(",")),
            Err(TraceStateError::TooManyMembers)
        );
    }

    #[test]
    fn tracestate_from_pairs() {
        let state = TraceState::from_pairs([("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(state.to_string(), "a=1,b=2");
        assert_eq!(
            TraceState::from_pairs([("A", "1")]),
            Err(TraceStateError::Key(0))
        );
        assert_eq!(
            TraceState::from_pairs([("a", "1,2")]),
            Err(TraceStateError::Value(0))
        );
        assert_eq!(
            TraceState::from_pairs([("a", "x ")]),
            Err(TraceStateError::Value(0))
        );
        assert_eq!(
            TraceState::from_pairs([("a", "1"), ("a", "2")]),
            Err(TraceStateError::DuplicateKey(1))
        );
    }

    #[test]
    fn baggage_valid() {
        let baggage = Baggage::parse("userId=alice,serverNode=DF%2028,isProduction=false").unwrap();
        assert_eq!(baggage.len(), 3);
        assert_eq!(baggage.get("userId"), Some("alice"));
        assert_eq!(baggage.get("serverNode"), Some("DF 28"));
        assert_eq!(baggage.get("isProduction"), Some("false"));
        assert_eq!(baggage.get("userid"), None, "keys are case-sensitive");
        assert_eq!(
            baggage.to_string(),
            "userId=alice,serverNode=DF%2028,isProduction=false"
        );
    }

    #[test]
    fn baggage_edges() {
        // Spaces around members, `=` and `;`; empty members; empty values.
        let baggage = Baggage::parse(" a = 1 ; p1 ; p2 = x ,, b= ,").unwrap();
        assert_eq!(baggage.get("a"), Some("1"));
        assert_eq!(baggage.properties("a"), Some("p1 ; p2 = x"));
        assert_eq!(baggage.get("b"), Some(""));
        assert_eq!(baggage.properties("b"), None);
        assert!(Baggage::parse("").unwrap().is_empty());
        // A repeated key keeps the last value.
        let baggage = Baggage::parse("k=1,k=2").unwrap();
        assert_eq!(baggage.len(), 1);
        assert_eq!(baggage.get("k"), Some("2"));
        // UTF-8 through percent escapes, in either case, and back.
        let baggage = Baggage::parse("city=Z%C3%BCrich,pct=100%25,lower=%c3%a9").unwrap();
        assert_eq!(baggage.get("city"), Some("Zürich"));
        assert_eq!(baggage.get("pct"), Some("100%"));
        assert_eq!(baggage.get("lower"), Some("é"));
        assert_eq!(
            baggage.to_string(),
            "city=Z%C3%BCrich,pct=100%25,lower=%C3%A9"
        );
        // Values may hold `=`; the first one splits.
        assert_eq!(Baggage::parse("k=a=b").unwrap().get("k"), Some("a=b"));
    }

    #[test]
    fn baggage_malformed() {
        let too_many: Vec<String> = (0..181).map(|i| format!("k{i}=v")).collect();
        let cases: &[(&str, BaggageError)] = &[
            ("novalue", BaggageError::Member(0)),
            ("a=1,novalue", BaggageError::Member(1)),
            ("=1", BaggageError::Key(0)),
            ("a b=1", BaggageError::Key(0)),
            ("k(1)=1", BaggageError::Key(0)),
            ("k=a b", BaggageError::Value(0)),
            ("k=\"quoted\"", BaggageError::Value(0)),
            ("k=back\\slash", BaggageError::Value(0)),
            ("k=%", BaggageError::Value(0)),
            ("k=%2", BaggageError::Value(0)),
            ("k=%zz", BaggageError::Value(0)),
            ("k=%FF", BaggageError::Value(0)),
            ("k=é", BaggageError::Value(0)),
            ("k=1;", BaggageError::Property(0)),
            ("k=1;p=a b", BaggageError::Property(0)),
            ("k=1;=x", BaggageError::Property(0)),
        ];
        for (input, expected) in cases {
            assert_eq!(Baggage::parse(input), Err(*expected), "{input:?}");
        }
        assert_eq!(
            Baggage::parse(&too_many.join(",")),
            Err(BaggageError::TooManyMembers)
        );
        let long = format!("k={}", "v".repeat(8191));
        assert_eq!(Baggage::parse(&long), Err(BaggageError::TooLong(8193)));
        let fits = format!("k={}", "v".repeat(8190));
        assert!(Baggage::parse(&fits).is_ok());
    }

    #[test]
    fn baggage_insert() {
        let mut baggage = Baggage::new();
        baggage.insert("tenant", "a, b; \"c\"").unwrap();
        baggage.insert("n", "1").unwrap();
        baggage.insert("n", "2").unwrap();
        assert_eq!(
            baggage.insert("bad key", "x"),
            Err(InvalidBaggageKey("bad key".to_owned()))
        );
        assert_eq!(baggage.to_string(), "tenant=a%2C%20b%3B%20%22c%22,n=2");
        let back = Baggage::parse(&baggage.to_string()).unwrap();
        assert_eq!(back, baggage);
    }

    #[test]
    fn hex_and_escapes() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
        assert_eq!(hex_byte(b'a', b'0'), Some(0xa0));
        assert_eq!(hex_byte(b'A', b'0'), None);
        assert_eq!(percent_decode("%41%4a%4A"), Some("AJJ".to_owned()));
        let mut out = String::new();
        percent_encode("a%b ü", &mut out).unwrap();
        assert_eq!(out, "a%25b%20%C3%BC");
    }

    /// Every byte value at every position of eight digits: `hex_u32`
    /// agrees with decoding one digit at a time.
    #[test]
    fn eight_digits_at_once_agree_with_one_at_a_time() {
        fn slow(digits: [u8; 8]) -> Option<u32> {
            digits.iter().try_fold(0u32, |value, &digit| {
                Some((value << 4) | u32::from(hex_digit_lowercase(digit)?))
            })
        }
        for base in [
            *b"0123abcd",
            *b"fedcba98",
            *b"00000000",
            *b"ffffffff",
            *b"9a9a9a9a",
        ] {
            assert_eq!(hex_u32(base), slow(base));
            for at in 0..8 {
                for byte in 0..=u8::MAX {
                    let mut digits = base;
                    digits[at] = byte;
                    assert_eq!(hex_u32(digits), slow(digits), "{digits:?}");
                }
            }
        }
        assert_eq!(hex_u32(*b"0123abcd"), Some(0x0123_abcd));
        let mut out = [0; 5];
        assert_eq!(decode_hex(b"0123456789", &mut out), Some(()));
        assert_eq!(
            out,
            [0x01, 0x23, 0x45, 0x67, 0x89],
            "the rest, pair by pair"
        );
        assert_eq!(decode_hex(b"012345678G", &mut out), None);
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn eight_digits_decode_as_their_number(digits in any::<[u8; 8]>()) {
                let slow = digits.iter().try_fold(0u32, |value, &digit| {
                    Some((value << 4) | u32::from(hex_digit_lowercase(digit)?))
                });
                prop_assert_eq!(hex_u32(digits), slow);
            }

            #[test]
            fn a_number_written_in_hex_decodes_to_itself(value in any::<u32>()) {
                let digits: [u8; 8] = format!("{value:08x}").into_bytes().try_into().unwrap();
                prop_assert_eq!(hex_u32(digits), Some(value));
            }


            #[test]
            fn traceparent_round_trips(
                trace_id in any::<[u8; 16]>().prop_filter("not zero", |id| *id != [0; 16]),
                parent_id in any::<[u8; 8]>().prop_filter("not zero", |id| *id != [0; 8]),
                flags in any::<u8>(),
            ) {
                let parent = TraceParent::new(trace_id, parent_id, flags).unwrap();
                let text = parent.to_string();
                prop_assert_eq!(text.len(), 55);
                prop_assert_eq!(TraceParent::parse(&text), Ok(parent));
            }

            #[test]
            fn traceparent_never_panics(input in any::<String>()) {
                let _ = TraceParent::parse(&input);
            }

            #[test]
            fn traceparent_near_misses_never_panic(
                input in "[0-9a-fA-F-]{0,60}",
            ) {
                if let Ok(parent) = TraceParent::parse(&input) {
                    // Whatever parses writes back to a header that parses the same.
                    prop_assert_eq!(TraceParent::parse(&parent.to_string()), Ok(parent));
                }
            }

            #[test]
            fn tracestate_round_trips(
                members in prop::collection::btree_map(
                    "[a-z][a-z0-9_*/-]{0,20}",
                    "[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]([\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,30}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e])?",
                    0..32,
                ),
            ) {
                let state = TraceState::from_pairs(members).unwrap();
                prop_assert_eq!(TraceState::parse(&state.to_string()), Ok(state));
            }

            #[test]
            fn tracestate_never_panics(input in any::<String>()) {
                let _ = TraceState::parse(&input);
            }

            #[test]
            fn baggage_round_trips(
                entries in prop::collection::btree_map("[A-Za-z0-9_.~-]{1,20}", any::<String>(), 0..20),
            ) {
                let mut baggage = Baggage::new();
                for (key, value) in &entries {
                    baggage.insert(key.clone(), value.clone()).unwrap();
                }
                let header = baggage.to_string();
                prop_assert!(header.bytes().all(|b| b.is_ascii_graphic()));
                if header.len() <= BAGGAGE_MAX_BYTES {
                    prop_assert_eq!(Baggage::parse(&header), Ok(baggage));
                }
            }

            #[test]
            fn baggage_never_panics(input in any::<String>()) {
                let _ = Baggage::parse(&input);
            }
        }
    }
}
