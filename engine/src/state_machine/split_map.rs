//! A map split into [`PARTS`] hash maps, so that growing never copies more than a part at once.
//!
//! The maps that grow with every sale (settlements, coupons, redemptions) used
//! to double in one step on the executor: at a million entries that is a pause of a hundred
//! milliseconds or more. Split in 64, each part doubles on its own, at a 64th of the size.
//! Encoded exactly like one map (a length, then the entries), so snapshots do not change.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Map, PRESIZE_ENTRIES_MAX};
use crate::types::Id;

/// Parts of a [`SplitMap`].
const PARTS: usize = 64;

/// Ids to values, in [`PARTS`] hash maps chosen by the id's hash. Architecture Invariant (as for
/// [`Map`]): no decision depends on the iteration order.
#[derive(Debug, Clone)]
pub struct SplitMap<V> {
    chooser: ahash::RandomState,
    parts: Vec<Map<Id, V>>,
}

impl<V> Default for SplitMap<V> {
    fn default() -> Self {
        SplitMap::with_capacity(0)
    }
}

impl<V> SplitMap<V> {
    fn with_capacity(entries: usize) -> SplitMap<V> {
        let each = entries.div_ceil(PARTS);
        let parts = (0..PARTS).map(|_| Map::with_capacity_and_hasher(each, ahash::RandomState::default())).collect();
        SplitMap { chooser: ahash::RandomState::default(), parts }
    }

    fn part(&self, id: &Id) -> usize {
        (self.chooser.hash_one(id) % PARTS as u64) as usize
    }

    /// The value of `id`.
    pub(crate) fn get(&self, id: &Id) -> Option<&V> {
        self.parts[self.part(id)].get(id)
    }

    /// The value of `id`, to change it.
    pub(crate) fn get_mut(&mut self, id: &Id) -> Option<&mut V> {
        let part = self.part(id);
        self.parts[part].get_mut(id)
    }

    /// Sets the value of `id`, returning the one it replaces.
    pub(crate) fn insert(&mut self, id: Id, value: V) -> Option<V> {
        let part = self.part(&id);
        self.parts[part].insert(id, value)
    }

    /// Removes `id`, returning its value.
    pub(crate) fn remove(&mut self, id: &Id) -> Option<V> {
        let part = self.part(id);
        self.parts[part].remove(id)
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|part| part.len()).sum()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|part| part.is_empty())
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Id, &V)> {
        self.parts.iter().flat_map(|part| part.iter())
    }

    /// Every id, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &Id> {
        self.iter().map(|(id, _)| id)
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }
}

impl<V> std::ops::Index<&Id> for SplitMap<V> {
    type Output = V;

    /// The value of an id known to be there (panics otherwise, as `HashMap`'s index does).
    fn index(&self, id: &Id) -> &V {
        self.get(id).expect("the id is in the map")
    }
}

impl<V: PartialEq> PartialEq for SplitMap<V> {
    fn eq(&self, other: &SplitMap<V>) -> bool {
        self.len() == other.len() && self.iter().all(|(id, value)| other.get(id) == Some(value))
    }
}

impl<V: Eq> Eq for SplitMap<V> {}

impl<V: Serialize> Serialize for SplitMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (id, value) in self.iter() {
            map.serialize_entry(id, value)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SplitMap<V> {
    /// Room for every entry is reserved up front (capped at `PRESIZE_ENTRIES_MAX`), as for the
    /// state's other big maps.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SplitMap<V>, D::Error> {
        struct SplitVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for SplitVisitor<V> {
            type Value = SplitMap<V>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a map of ids")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<SplitMap<V>, A::Error> {
                let mut map = SplitMap::with_capacity(access.size_hint().unwrap_or(0).min(PRESIZE_ENTRIES_MAX));
                while let Some((id, value)) = access.next_entry()? {
                    map.insert(id, value);
                }
                Ok(map)
            }
        }
        deserializer.deserialize_map(SplitVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_one_map_to_its_users_and_encodes_as_one() {
        let mut split = SplitMap::default();
        let mut plain: Map<Id, u64> = Map::default();
        for index in 0..1_000u64 {
            let id = Id::new(&format!("id{index}")).unwrap();
            split.insert(id.clone(), index);
            plain.insert(id, index);
        }
        let id = Id::new("id7").unwrap();
        *split.get_mut(&id).unwrap() += 1;
        *plain.get_mut(&id).unwrap() += 1;
        assert_eq!((split.len(), split.get(&id), split.get(&Id::new("x").unwrap())), (1_000, Some(&8), None));
        assert!(split.parts.iter().all(|part| !part.is_empty()), "spread over every part");
        // The same bytes decode as either (the snapshot format did not change).
        let from_split: Map<Id, u64> = crate::codec::decode(&crate::codec::encode(&split)).unwrap();
        assert_eq!(from_split, plain);
        let from_plain: SplitMap<u64> = crate::codec::decode(&crate::codec::encode(&plain)).unwrap();
        assert!(from_plain == split);
    }
}
