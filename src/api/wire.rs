//! Lenient decoding helpers shared by the crate's models: string
//! enums that keep unknown values, strings that may arrive as numbers, lists
//! that may arrive as `null`, booleans that may arrive as strings, and JSON
//! carried inside strings.

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
                $crate::api::wire::wire_str(d, $expecting, |s| Self::from(s))
            }
        }
    };
}
pub(crate) use wire_enum;

/// A JSON string, and nothing else, read by `from` without a copy of its own (for
/// `wire_enum!`).
pub(crate) fn wire_str<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    from: fn(&str) -> T,
) -> Result<T, D::Error> {
    struct V<T>(&'static str, fn(&str) -> T);
    impl<T> Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Ok((self.1)(v))
        }
    }
    d.deserialize_str(V(expecting, from))
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

/// `true`/`false`, `"true"`/`"false"`, or `null` (false).
pub(crate) struct LenientBool(pub(crate) bool);

impl<'de> Deserialize<'de> for LenientBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LenientBool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LenientBool, E> {
                Ok(LenientBool(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientBool, E> {
                match v {
                    "true" => Ok(LenientBool(true)),
                    "false" | "" => Ok(LenientBool(false)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientBool, E> {
                Ok(LenientBool(false))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value or a list of them (`null` or missing: none): for fields the SDKs
/// type as one object that may be an array.
pub(crate) fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::Many(items)) => items,
        Some(OneOrMany::One(item)) => vec![item],
    })
}
