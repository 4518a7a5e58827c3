//! A canonical encoding, for hashing only (never decoded): the same value gives the same
//! bytes in every process. bincode writes a hash map's entries in the map's memory order, which
//! differs between processes (random hasher seeds) and with the map's history; here each map's
//! entries are encoded one by one and written sorted by their encoded key. Everything else is
//! written in order: integers little endian at their full width, lengths as `u64`, enum
//! variants by index. A sequence is written in its order, so a value whose order carries no
//! meaning must be a map (kassa's state keeps its sets in `BTreeSet`s).

use serde::ser::{self, Serialize};

/// The canonical encoding of `value`.
pub fn encode_canonical<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::new();
    value.serialize(&mut Canonical { out: &mut out })?;
    Ok(out)
}

/// A value serde could not serialize (a custom `Serialize` that failed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CanonicalError(String);

impl ser::Error for CanonicalError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        CanonicalError(message.to_string())
    }
}

/// The serializer: appends to `out`.
struct Canonical<'a> {
    out: &'a mut Vec<u8>,
}

impl Canonical<'_> {
    fn length(&mut self, length: usize) {
        self.out.extend_from_slice(&(length as u64).to_le_bytes());
    }

    /// An enum variant's index, before its fields.
    fn variant(&mut self, index: u32) -> &mut Self {
        self.out.extend_from_slice(&index.to_le_bytes());
        self
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.length(bytes.len());
        self.out.extend_from_slice(bytes);
    }
}

/// A sequence or map being written: its elements go to `items` (a map's entries each as a
/// pair of encodings), counted, and are written with their count at the end.
struct Compound<'a, 'b> {
    serializer: &'b mut Canonical<'a>,
    items: Vec<u8>,
    count: usize,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl<'a, 'b> Compound<'a, 'b> {
    fn new(serializer: &'b mut Canonical<'a>) -> Self {
        Compound { serializer, items: Vec::new(), count: 0, entries: Vec::new() }
    }

    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.count += 1;
        value.serialize(&mut Canonical { out: &mut self.items })
    }

    fn end_sequence(self) -> Result<(), CanonicalError> {
        self.serializer.length(self.count);
        self.serializer.out.extend_from_slice(&self.items);
        Ok(())
    }
}

macro_rules! write_le {
    ($($method:ident: $type:ty),*) => {$(
        fn $method(self, value: $type) -> Result<(), CanonicalError> {
            self.out.extend_from_slice(&value.to_le_bytes());
            Ok(())
        }
    )*};
}

impl<'a, 'b> ser::Serializer for &'b mut Canonical<'a> {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    write_le!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128);
    write_le!(serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);

    fn serialize_bool(self, value: bool) -> Result<(), CanonicalError> {
        self.out.push(u8::from(value));
        Ok(())
    }

    fn serialize_f32(self, value: f32) -> Result<(), CanonicalError> {
        self.serialize_u32(value.to_bits())
    }

    fn serialize_f64(self, value: f64) -> Result<(), CanonicalError> {
        self.serialize_u64(value.to_bits())
    }

    fn serialize_char(self, value: char) -> Result<(), CanonicalError> {
        self.serialize_u32(u32::from(value))
    }

    fn serialize_str(self, value: &str) -> Result<(), CanonicalError> {
        self.bytes(value.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), CanonicalError> {
        self.bytes(value);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), CanonicalError> {
        self.out.push(0);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CanonicalError> {
        self.out.push(1);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), CanonicalError> {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), CanonicalError> {
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Result<(), CanonicalError> {
        self.serialize_u32(index)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), CanonicalError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.serialize_u32(index)?;
        value.serialize(self)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, 'b>, CanonicalError> {
        Ok(Compound::new(self))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self, CanonicalError> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, CanonicalError> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        at: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CanonicalError> {
        Ok(self.variant(at))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, 'b>, CanonicalError> {
        Ok(Compound::new(self))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, CanonicalError> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        at: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CanonicalError> {
        Ok(self.variant(at))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = CanonicalError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.item(value)
    }

    fn end(self) -> Result<(), CanonicalError> {
        self.end_sequence()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = CanonicalError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CanonicalError> {
        self.entries.push((encode_canonical(key)?, Vec::new()));
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        let entry = self.entries.last_mut().ok_or_else(|| ser::Error::custom("a map value without its key"))?;
        entry.1 = encode_canonical(value)?;
        Ok(())
    }

    fn end(mut self) -> Result<(), CanonicalError> {
        self.entries.sort_unstable();
        self.serializer.length(self.entries.len());
        for (key, value) in &self.entries {
            self.serializer.bytes(key);
            self.serializer.bytes(value);
        }
        Ok(())
    }
}

/// Tuples and structs: their fields in order, nothing around them.
macro_rules! fields_in_order {
    ($($trait:ident, $method:ident $(, $name:ty)?);*) => {$(
        impl ser::$trait for &mut Canonical<'_> {
            type Ok = ();
            type Error = CanonicalError;

            fn $method<T: Serialize + ?Sized>(&mut self, $(_: $name,)? value: &T) -> Result<(), CanonicalError> {
                value.serialize(&mut **self)
            }

            fn end(self) -> Result<(), CanonicalError> {
                Ok(())
            }
        }
    )*};
}

fields_in_order!(
    SerializeTuple, serialize_element;
    SerializeTupleStruct, serialize_field;
    SerializeTupleVariant, serialize_field;
    SerializeStruct, serialize_field, &'static str;
    SerializeStructVariant, serialize_field, &'static str
);

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::encode_canonical;

    #[test]
    fn maps_encode_alike_whatever_their_order_in_memory() {
        let entries: Vec<(String, Vec<u128>)> = (0..200).map(|n| (format!("k{n}"), vec![n, u128::MAX - n])).collect();
        let forward: HashMap<String, Vec<u128>> = entries.iter().cloned().collect();
        let mut backward: HashMap<String, Vec<u128>> = HashMap::with_capacity(1_000);
        backward.extend(entries.iter().rev().cloned());
        let ordered: BTreeMap<String, Vec<u128>> = entries.iter().cloned().collect();
        let encoded = encode_canonical(&forward).unwrap();
        assert_eq!(encode_canonical(&backward).unwrap(), encoded);
        assert_eq!(encode_canonical(&ordered).unwrap(), encoded);
        let mut changed = forward.clone();
        changed.get_mut("k7").unwrap()[0] = 8;
        assert_ne!(encode_canonical(&changed).unwrap(), encoded);
        // Nested maps too, and a sequence keeps its order.
        let nested: Vec<HashMap<String, Vec<u128>>> = vec![forward.clone(), backward.clone()];
        assert_eq!(encode_canonical(&nested).unwrap(), encode_canonical(&vec![ordered.clone(), ordered]).unwrap());
        assert_ne!(encode_canonical(&vec![1u8, 2]).unwrap(), encode_canonical(&vec![2u8, 1]).unwrap());
    }
}
