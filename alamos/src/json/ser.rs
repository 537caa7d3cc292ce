//! A `serde::Serializer` that writes JSON text, for [`report`](fn@crate::report).
//!
//! It writes what `serde_json::to_string` writes, with two choices of its
//! own (see the module doc of [`super`] for why alamos does not depend on
//! `serde_json`):
//!
//! - **Non-finite floats** are written as the strings `"NaN"`, `"inf"` and
//!   `"-inf"`, as alamos's JSON logs write them, rather than as `null`: a
//!   configuration whose limit is infinite says so.
//! - **Map keys** must be strings in JSON. Strings and chars are written as
//!   they are; integers, bools and unit variants (`Kind::Fast`) are written
//!   as their text (`{"1":..}`, `{"true":..}`, `{"Fast":..}`), and a newtype
//!   struct key as its inner key. Any other key (a float, a sequence, a map,
//!   a struct, `None`, `()`) is an **error**: the report is refused rather
//!   than written in a shape that reads back differently.
//!
//! Everything else follows serde's data model as `serde_json` does: unit and
//! `None` are `null`, `Some(x)` is `x`, bytes are an array of numbers, enums
//! are externally tagged (`"Unit"`, `{"Newtype":x}`, `{"Tuple":[..]}`,
//! `{"Struct":{..}}`), and skipped fields (`#[serde(skip)]`) are absent.

use std::fmt::{self, Write as _};

use serde::ser::{self, Impossible, Serialize};

use super::{float, string};

/// Why a value could not be written as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl From<fmt::Error> for Error {
    fn from(_: fmt::Error) -> Self {
        Error("cannot write JSON text".to_owned())
    }
}

/// `value` as JSON text.
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::with_capacity(128);
    value.serialize(Serializer { out: &mut out })?;
    Ok(out)
}

/// Writes one value into `out`.
pub(crate) struct Serializer<'a> {
    out: &'a mut String,
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// A sequence or map being written: whether an element was written yet.
pub(crate) struct Compound<'a> {
    out: &'a mut String,
    first: bool,
    /// Closes a `{"Variant":` wrapper after the compound.
    variant: bool,
}

impl Compound<'_> {
    fn comma(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.out.push(',');
        }
    }

    fn close(self, bracket: char) {
        self.out.push(bracket);
        if self.variant {
            self.out.push('}');
        }
    }
}

fn float32(out: &mut String, value: f32) -> Result<()> {
    if value.is_finite() {
        // `{:?}` of an `f32` is its shortest round-tripping text, with a
        // decimal point or exponent.
        write!(out, "{value:?}")?;
        Ok(())
    } else {
        float(out, f64::from(value)).map_err(Error::from)
    }
}

impl<'a> ser::Serializer for Serializer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<()> {
        write!(self.out, "{v}")?;
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<()> {
        write!(self.out, "{v}")?;
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<()> {
        write!(self.out, "{v}")?;
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<()> {
        write!(self.out, "{v}")?;
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<()> {
        float32(self.out, v)
    }

    fn serialize_f64(self, v: f64) -> Result<()> {
        float(self.out, v)?;
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<()> {
        string(self.out, v.encode_utf8(&mut [0; 4]))?;
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<()> {
        string(self.out, v)?;
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.out.push('[');
        for (index, byte) in v.iter().enumerate() {
            if index > 0 {
                self.out.push(',');
            }
            write!(self.out, "{byte}")?;
        }
        self.out.push(']');
        Ok(())
    }

    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.out.push('{');
        string(self.out, variant)?;
        self.out.push(':');
        value.serialize(Serializer {
            out: &mut *self.out,
        })?;
        self.out.push('}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>> {
        self.out.push('[');
        Ok(Compound {
            out: self.out,
            first: true,
            variant: false,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>> {
        self.out.push('{');
        string(self.out, variant)?;
        self.out.push_str(":[");
        Ok(Compound {
            out: self.out,
            first: true,
            variant: true,
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>> {
        self.out.push('{');
        Ok(Compound {
            out: self.out,
            first: true,
            variant: false,
        })
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>> {
        self.out.push('{');
        string(self.out, variant)?;
        self.out.push_str(":{");
        Ok(Compound {
            out: self.out,
            first: true,
            variant: true,
        })
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<()> {
        self.serialize_str(&value.to_string())
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.comma();
        value.serialize(Serializer {
            out: &mut *self.out,
        })
    }

    fn end(self) -> Result<()> {
        self.close(']');
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<()> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<()> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<()> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.comma();
        key.serialize(KeySerializer {
            out: &mut *self.out,
        })?;
        self.out.push(':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(Serializer {
            out: &mut *self.out,
        })
    }

    fn end(self) -> Result<()> {
        self.close('}');
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.comma();
        string(self.out, key)?;
        self.out.push(':');
        value.serialize(Serializer {
            out: &mut *self.out,
        })
    }

    fn end(self) -> Result<()> {
        self.close('}');
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<()> {
        ser::SerializeStruct::end(self)
    }
}

/// Writes a map key: a JSON string.
struct KeySerializer<'a> {
    out: &'a mut String,
}

fn key_error(what: &str) -> Error {
    Error(format!(
        "a map key must be a string, char, integer, bool or unit variant, not {what}"
    ))
}

impl KeySerializer<'_> {
    fn text(self, text: impl fmt::Display) -> Result<()> {
        string(self.out, &text.to_string())?;
        Ok(())
    }
}

impl ser::Serializer for KeySerializer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.text(v)
    }

    fn serialize_i8(self, v: i8) -> Result<()> {
        self.text(v)
    }

    fn serialize_i16(self, v: i16) -> Result<()> {
        self.text(v)
    }

    fn serialize_i32(self, v: i32) -> Result<()> {
        self.text(v)
    }

    fn serialize_i64(self, v: i64) -> Result<()> {
        self.text(v)
    }

    fn serialize_i128(self, v: i128) -> Result<()> {
        self.text(v)
    }

    fn serialize_u8(self, v: u8) -> Result<()> {
        self.text(v)
    }

    fn serialize_u16(self, v: u16) -> Result<()> {
        self.text(v)
    }

    fn serialize_u32(self, v: u32) -> Result<()> {
        self.text(v)
    }

    fn serialize_u64(self, v: u64) -> Result<()> {
        self.text(v)
    }

    fn serialize_u128(self, v: u128) -> Result<()> {
        self.text(v)
    }

    fn serialize_f32(self, _v: f32) -> Result<()> {
        Err(key_error("a float"))
    }

    fn serialize_f64(self, _v: f64) -> Result<()> {
        Err(key_error("a float"))
    }

    fn serialize_char(self, v: char) -> Result<()> {
        self.text(v)
    }

    fn serialize_str(self, v: &str) -> Result<()> {
        string(self.out, v)?;
        Ok(())
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<()> {
        Err(key_error("bytes"))
    }

    fn serialize_none(self) -> Result<()> {
        Err(key_error("None"))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<()> {
        Err(key_error("an Option"))
    }

    fn serialize_unit(self) -> Result<()> {
        Err(key_error("()"))
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<()> {
        Err(key_error(&format!("the unit struct {name}")))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<()> {
        Err(key_error(&format!(
            "the variant {name}::{variant} with data"
        )))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_error("a sequence"))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(key_error("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_error(&format!("the tuple struct {name}")))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_error(&format!(
            "the variant {name}::{variant} with data"
        )))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_error("a map"))
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(key_error(&format!("the struct {name}")))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_error(&format!(
            "the variant {name}::{variant} with data"
        )))
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<()> {
        self.text(value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::ser::{
        SerializeMap, SerializeStruct, SerializeStructVariant, SerializeTupleStruct,
        SerializeTupleVariant, Serializer as _,
    };
    use serde::Serialize;

    use super::*;

    fn json<T: Serialize + ?Sized>(value: &T) -> String {
        to_string(value).unwrap()
    }

    /// Drives the serializer by hand, for the data model types no std type
    /// produces (unit structs, variants of every shape, bytes).
    fn with(f: impl FnOnce(Serializer<'_>) -> Result<()>) -> String {
        let mut out = String::new();
        f(Serializer { out: &mut out }).unwrap();
        out
    }

    #[test]
    fn primitives() {
        assert_eq!(json(&true), "true");
        assert_eq!(json(&false), "false");
        assert_eq!(json(&-8_i8), "-8");
        assert_eq!(json(&-16_i16), "-16");
        assert_eq!(json(&i32::MIN), "-2147483648");
        assert_eq!(json(&i64::MIN), "-9223372036854775808");
        assert_eq!(json(&i128::MIN), i128::MIN.to_string());
        assert_eq!(json(&255_u8), "255");
        assert_eq!(json(&65535_u16), "65535");
        assert_eq!(json(&u32::MAX), "4294967295");
        assert_eq!(json(&u64::MAX), "18446744073709551615");
        assert_eq!(json(&u128::MAX), u128::MAX.to_string());
        assert_eq!(json(&'x'), "\"x\"");
        assert_eq!(json(&'"'), "\"\\\"\"");
        assert_eq!(json("text"), "\"text\"");
        assert_eq!(json(&String::from("owned")), "\"owned\"");
    }

    #[test]
    fn floats_keep_a_point_and_non_finite_ones_become_strings() {
        assert_eq!(json(&1.0_f64), "1.0");
        assert_eq!(json(&0.1_f64), "0.1");
        assert_eq!(json(&-2.5e-300_f64), "-2.5e-300");
        assert_eq!(json(&0.1_f32), "0.1");
        assert_eq!(json(&3.0_f32), "3.0");
        assert_eq!(json(&f64::NAN), "\"NaN\"");
        assert_eq!(json(&f64::INFINITY), "\"inf\"");
        assert_eq!(json(&f64::NEG_INFINITY), "\"-inf\"");
        assert_eq!(json(&f32::NAN), "\"NaN\"");
        assert_eq!(json(&f32::NEG_INFINITY), "\"-inf\"");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            json("quote \" backslash \\ newline \n tab \t cr \r nul \u{0} unit \u{1f} é ✓"),
            "\"quote \\\" backslash \\\\ newline \\n tab \\t cr \\r nul \\u0000 unit \\u001f é ✓\""
        );
        // U+2028 and U+2029 are valid in JSON strings as they are.
        assert_eq!(json("\u{2028}"), "\"\u{2028}\"");
    }

    #[test]
    fn options_unit_and_bytes() {
        assert_eq!(json(&None::<u8>), "null");
        assert_eq!(json(&Some(3)), "3");
        assert_eq!(json(&Some(None::<u8>)), "null");
        assert_eq!(json(&()), "null");
        assert_eq!(with(|s| s.serialize_unit_struct("Marker")), "null");
        assert_eq!(with(|s| s.serialize_bytes(&[0, 7, 255])), "[0,7,255]");
        assert_eq!(with(|s| s.serialize_bytes(&[])), "[]");
    }

    #[test]
    fn sequences_tuples_and_structs() {
        assert_eq!(json(&Vec::<u8>::new()), "[]");
        assert_eq!(json(&[1, 2, 3]), "[1,2,3]");
        assert_eq!(json(&(1, "a", [true])), "[1,\"a\",[true]]");
        assert_eq!(json(&vec![vec![1], vec![]]), "[[1],[]]");
        assert_eq!(
            with(|s| {
                let mut t = s.serialize_tuple_struct("Pair", 2)?;
                SerializeTupleStruct::serialize_field(&mut t, &1)?;
                SerializeTupleStruct::serialize_field(&mut t, &2)?;
                SerializeTupleStruct::end(t)
            }),
            "[1,2]"
        );
        assert_eq!(with(|s| s.serialize_newtype_struct("Meters", &5)), "5");
        assert_eq!(
            with(|s| {
                let mut t = s.serialize_struct("Config", 2)?;
                SerializeStruct::serialize_field(&mut t, "nodes", &3)?;
                SerializeStruct::serialize_field(&mut t, "name", "a\"b")?;
                SerializeStruct::end(t)
            }),
            "{\"nodes\":3,\"name\":\"a\\\"b\"}"
        );
        assert_eq!(
            with(|s| SerializeStruct::end(s.serialize_struct("Empty", 0)?)),
            "{}",
            "an empty struct"
        );
    }

    #[test]
    fn enums_are_externally_tagged() {
        assert_eq!(
            with(|s| s.serialize_unit_variant("Mode", 0, "Fast")),
            "\"Fast\""
        );
        assert_eq!(
            with(|s| s.serialize_newtype_variant("Mode", 1, "Limit", &10)),
            "{\"Limit\":10}"
        );
        assert_eq!(
            with(|s| {
                let mut t = s.serialize_tuple_variant("Mode", 2, "Range", 2)?;
                SerializeTupleVariant::serialize_field(&mut t, &1)?;
                SerializeTupleVariant::serialize_field(&mut t, &2)?;
                SerializeTupleVariant::end(t)
            }),
            "{\"Range\":[1,2]}"
        );
        assert_eq!(
            with(|s| {
                let mut t = s.serialize_struct_variant("Mode", 3, "Custom", 1)?;
                SerializeStructVariant::serialize_field(&mut t, "rate", &0.5)?;
                SerializeStructVariant::end(t)
            }),
            "{\"Custom\":{\"rate\":0.5}}"
        );
        assert_eq!(
            json(&Ok::<u8, u8>(1)),
            "{\"Ok\":1}",
            "Result is an enum too"
        );
    }

    #[test]
    fn maps_take_string_like_keys() {
        let mut map = BTreeMap::new();
        map.insert("b", 2);
        map.insert("a\n", 1);
        assert_eq!(json(&map), "{\"a\\n\":1,\"b\":2}");
        assert_eq!(json(&BTreeMap::<String, u8>::new()), "{}");
        assert_eq!(
            json(&BTreeMap::from([(-1_i64, "x"), (2, "y")])),
            "{\"-1\":\"x\",\"2\":\"y\"}"
        );
        assert_eq!(json(&BTreeMap::from([(u128::MAX, 0)])), {
            format!("{{\"{}\":0}}", u128::MAX)
        });
        assert_eq!(
            json(&BTreeMap::from([(true, 1), (false, 0)])),
            "{\"false\":0,\"true\":1}"
        );
        assert_eq!(json(&BTreeMap::from([('c', 1)])), "{\"c\":1}");
        assert_eq!(
            with(|s| {
                let mut m = s.serialize_map(None)?;
                SerializeMap::serialize_entry(&mut m, &UnitVariant, &1)?;
                SerializeMap::serialize_entry(&mut m, &Wrapped(7), &2)?;
                SerializeMap::end(m)
            }),
            "{\"Slow\":1,\"7\":2}"
        );
    }

    struct UnitVariant;
    impl Serialize for UnitVariant {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_unit_variant("Speed", 1, "Slow")
        }
    }

    struct Wrapped(u8);
    impl Serialize for Wrapped {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_newtype_struct("Wrapped", &self.0)
        }
    }

    #[test]
    fn other_map_keys_are_errors() {
        let message = |error: Error| error.to_string();
        assert!(
            message(to_string(&BTreeMap::from([(vec![1], 1)])).unwrap_err())
                .contains("not a sequence")
        );
        assert!(
            message(to_string(&BTreeMap::from([(Some(1), 1)])).unwrap_err())
                .contains("not an Option")
        );
        assert!(
            message(to_string(&BTreeMap::from([(None::<u8>, 1)])).unwrap_err())
                .contains("not None")
        );
        assert!(message(to_string(&BTreeMap::from([((), 1)])).unwrap_err()).contains("not ()"));
        assert!(
            message(to_string(&BTreeMap::from([((1, 2), 1)])).unwrap_err()).contains("not a tuple")
        );
        let floats = with_map_key(&1.5_f64);
        assert!(floats.to_string().contains("not a float"), "{floats}");
        let maps = with_map_key(&BTreeMap::from([(1, 1)]));
        assert!(maps.to_string().contains("not a map"), "{maps}");
        let bytes = with_map_key(&Bytes);
        assert!(bytes.to_string().contains("not bytes"), "{bytes}");
    }

    struct Bytes;
    impl Serialize for Bytes {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(b"k")
        }
    }

    fn with_map_key<K: Serialize>(key: &K) -> Error {
        let mut out = String::new();
        let mut map = Serializer { out: &mut out }.serialize_map(Some(1)).unwrap();
        SerializeMap::serialize_key(&mut map, key).unwrap_err()
    }

    #[test]
    fn custom_errors_and_collect_str_pass_through() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: ser::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(ser::Error::custom("cannot serialize this"))
            }
        }
        assert_eq!(
            to_string(&Fails).unwrap_err().to_string(),
            "cannot serialize this"
        );
        assert_eq!(
            with(|s| s.collect_str(&format_args!("{}-{}", 1, "a\""))),
            "\"1-a\\\"\""
        );
    }

    #[test]
    fn nested_values() {
        let text = json(&BTreeMap::from([(
            "k",
            vec![Some(1.5_f64), None, Some(f64::NAN)],
        )]));
        assert_eq!(text, "{\"k\":[1.5,null,\"NaN\"]}");
    }
}
