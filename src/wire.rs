//! Lenient decoding helpers shared by the crate's models: string
//! enums that keep unknown values, strings that may arrive as numbers, lists
//! that may arrive as `null`, and JSON carried inside strings.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Defines a string enum whose unknown wire values are kept in `Unknown`,
/// with `as_str`, `Display`, `From<&str>`, `Default` (`Unknown("")`, what a
/// missing field decodes to) and string (de)serialization. A value of another
/// JSON type is a decoding error.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($expecting:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know, kept as sent (empty when
            /// the field was missing).
            Unknown(String),
        }

        impl Default for $name {
            /// `Unknown("")`: what a reply without this field decodes to.
            fn default() -> Self {
                Self::Unknown(String::new())
            }
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Unknown(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            /// Parses a wire value (case-sensitive); an unknown one is kept in
            /// `Unknown`.
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => Self::$variant, )+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::wire::wire_string(d, $expecting).map(|s| Self::from(s.as_str()))
            }
        }
    };
}
pub(crate) use wire_enum;

/// A JSON string, and nothing else (for `wire_enum!`).
pub(crate) fn wire_string<'de, D: Deserializer<'de>>(
    d: D,
    expecting: &'static str,
) -> Result<String, D::Error> {
    struct V(&'static str);
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    d.deserialize_str(V(expecting))
}

/// A JSON string, or a JSON number kept as its decimal text; `null` or a
/// missing field is `None`.
pub(crate) fn opt_string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// A value whose `null` means its default (e.g. an empty list).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Parses a field that the API sends as a string holding JSON.
pub(crate) fn json_text(
    field: Option<&str>,
) -> Option<Result<serde_json::Value, serde_json::Error>> {
    field.map(serde_json::from_str)
}
