//! The membership clock: audiences that change, deterministically.
//!
//! Membership starts as members `0..members` (epoch 0). Each
//! [`Clock::advance`] opens the next epoch, in which some members leave,
//! new ones join (the next indexes, listed at the end) and some members'
//! attribute values change (their *version* goes up by one; the id and
//! `joinedAt` stay). Who leaves and who changes is drawn by a generator
//! seeded with the epoch number, so the same advances give the same
//! audiences on every run.
//!
//! Nothing is stored per member: only the members that left or changed
//! (memory grows with the changes asked for, not with the audience), plus
//! one end index per epoch. Every epoch stays readable: a cursor carries the
//! epoch its listing started in, and its pages are that epoch's (see
//! `routes::members`).

use std::collections::HashMap;

use crate::data;

/// What one advance asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Advance {
    pub joined: u64,
    pub left: u64,
    pub changed: u64,
}

/// Which members an advance moved (indexes, ascending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Moved {
    pub epoch: u32,
    pub joined: Vec<u64>,
    pub left: Vec<u64>,
    pub changed: Vec<u64>,
}

impl Moved {
    /// `{"epoch", "joined", "left", "changed"}`, the last three as member ids.
    pub fn to_json(&self) -> serde_json::Value {
        let ids = |v: &[u64]| v.iter().map(|&i| data::member_id(i)).collect::<Vec<_>>();
        serde_json::json!({
            "epoch": self.epoch,
            "joined": ids(&self.joined),
            "left": ids(&self.left),
            "changed": ids(&self.changed),
        })
    }
}

/// The membership history of the main audience (the subset audience is its
/// hash-chosen third, so it follows).
#[derive(Debug, Clone)]
pub struct Clock {
    /// `ends[e]`: one past the highest member index of epoch `e`.
    ends: Vec<u64>,
    /// The epoch each departed member left in.
    left: HashMap<u32, u32>,
    /// The epochs in which a member's attributes changed (ascending).
    changes: HashMap<u32, Vec<u32>>,
    /// Members present in each epoch.
    sizes: Vec<u64>,
    /// Whether anyone had left by epoch `e` (if not, epoch `e` is `0..ends[e]`).
    any_left: Vec<bool>,
}

/// Why an advance was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvanceError(pub String);

impl std::fmt::Display for AdvanceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A small, seeded generator (splitmix64): deterministic draws per epoch.
struct Draws(u64);

impl Draws {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        data::mix(self.0, 11) % n
    }
}

impl Clock {
    pub fn new(members: u64) -> Clock {
        Clock {
            ends: vec![members],
            left: HashMap::new(),
            changes: HashMap::new(),
            sizes: vec![members],
            any_left: vec![false],
        }
    }

    /// The latest epoch (0 before any advance).
    pub fn epoch(&self) -> u32 {
        (self.ends.len() - 1) as u32
    }

    /// A view of epoch `e` (None for an epoch that has not happened).
    pub fn at(&self, epoch: u32) -> Option<View<'_>> {
        ((epoch as usize) < self.ends.len()).then_some(View { clock: self, epoch })
    }

    /// The latest epoch's view.
    pub fn now(&self) -> View<'_> {
        View {
            clock: self,
            epoch: self.epoch(),
        }
    }

    /// Opens the next epoch: `left` members leave and `changed` others
    /// change attribute values (both drawn from the current members), and
    /// `joined` new members are appended.
    pub fn advance(&mut self, a: Advance) -> Result<Moved, AdvanceError> {
        let now = self.now();
        let size = now.size();
        if a.left + a.changed > size {
            return Err(AdvanceError(format!(
                "left ({}) + changed ({}) exceed the {size} current members",
                a.left, a.changed
            )));
        }
        let end = now.end();
        if end + a.joined > u64::from(u32::MAX) {
            return Err(AdvanceError(
                "the audience would pass 2**32 member indexes".into(),
            ));
        }
        let mut present: Vec<u32> = (0..end)
            .filter(|&i| now.present(i))
            .map(|i| i as u32)
            .collect();
        let epoch = self.epoch() + 1;
        // A partial Fisher-Yates shuffle seeded by the epoch: the first
        // `left + changed` slots are the drawn members.
        let mut draws = Draws(u64::from(epoch));
        let k = (a.left + a.changed) as usize;
        for slot in 0..k {
            let pick = slot + draws.below((present.len() - slot) as u64) as usize;
            present.swap(slot, pick);
        }
        let mut left: Vec<u64> = present[..a.left as usize]
            .iter()
            .map(|&i| u64::from(i))
            .collect();
        let mut changed: Vec<u64> = present[a.left as usize..k]
            .iter()
            .map(|&i| u64::from(i))
            .collect();
        left.sort_unstable();
        changed.sort_unstable();
        for &i in &left {
            self.left.insert(i as u32, epoch);
        }
        for &i in &changed {
            self.changes.entry(i as u32).or_default().push(epoch);
        }
        self.ends.push(end + a.joined);
        self.sizes.push(size - a.left + a.joined);
        let any = self.any_left.last().copied().unwrap_or(false) || a.left > 0;
        self.any_left.push(any);
        Ok(Moved {
            epoch,
            joined: (end..end + a.joined).collect(),
            left,
            changed,
        })
    }
}

/// The audience as of one epoch.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    clock: &'a Clock,
    pub epoch: u32,
}

impl View<'_> {
    /// One past the highest member index.
    pub fn end(&self) -> u64 {
        self.clock.ends[self.epoch as usize]
    }

    /// Members present.
    pub fn size(&self) -> u64 {
        self.clock.sizes[self.epoch as usize]
    }

    /// True if membership is exactly `0..end()` (nobody has left yet).
    pub fn contiguous(&self) -> bool {
        !self.clock.any_left[self.epoch as usize]
    }

    /// Is member `i` in the audience?
    pub fn present(&self, i: u64) -> bool {
        i < self.end()
            && self
                .clock
                .left
                .get(&(i as u32))
                .is_none_or(|&e| e > self.epoch)
    }

    /// How many times member `i`'s attributes have changed (0 = the
    /// original values).
    pub fn version(&self, i: u64) -> u32 {
        match self.clock.changes.get(&(i as u32)) {
            None => 0,
            Some(epochs) => epochs.iter().take_while(|&&e| e <= self.epoch).count() as u32,
        }
    }

    /// The members present, in listing order (ascending index).
    pub fn members(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.end()).filter(move |&i| self.present(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(joined: u64, left: u64, changed: u64) -> Advance {
        Advance {
            joined,
            left,
            changed,
        }
    }

    #[test]
    fn advances_move_membership_and_keep_history() {
        let mut c = Clock::new(100);
        assert_eq!(c.now().size(), 100);
        assert!(c.now().contiguous());
        let m = c.advance(adv(5, 3, 4)).unwrap();
        assert_eq!(m.epoch, 1);
        assert_eq!(m.joined, (100..105).collect::<Vec<_>>());
        assert_eq!((m.left.len(), m.changed.len()), (3, 4));
        assert!(m.left.iter().all(|i| !m.changed.contains(i)));
        let now = c.now();
        assert_eq!(now.size(), 102);
        assert_eq!(now.members().count(), 102);
        assert!(!now.contiguous());
        for &i in &m.left {
            assert!(!now.present(i) && c.at(0).unwrap().present(i));
        }
        for &i in &m.changed {
            assert_eq!((now.version(i), c.at(0).unwrap().version(i)), (1, 0));
        }
        // Epoch 0 is still readable, unchanged.
        assert_eq!(c.at(0).unwrap().members().count(), 100);
        assert!(c.at(2).is_none());
    }

    #[test]
    fn deterministic_and_refuses_the_impossible() {
        let run = || {
            let mut c = Clock::new(1_000);
            let a = c.advance(adv(10, 20, 30)).unwrap();
            let b = c.advance(adv(0, 5, 5)).unwrap();
            (a, b)
        };
        assert_eq!(run(), run());
        let mut c = Clock::new(10);
        assert!(c.advance(adv(0, 6, 5)).is_err());
        assert_eq!(c.epoch(), 0, "a refused advance changes nothing");
        c.advance(adv(0, 10, 0)).unwrap();
        assert_eq!(c.now().size(), 0);
        assert!(
            c.advance(adv(2, 0, 1)).is_err(),
            "changes come from current members"
        );
        c.advance(adv(2, 0, 0)).unwrap();
        assert_eq!(c.now().members().collect::<Vec<_>>(), vec![10, 11]);
        let m = c.advance(adv(0, 0, 1)).unwrap();
        assert_eq!(m.changed.len(), 1);
    }

    #[test]
    fn joins_only_stay_contiguous() {
        let mut c = Clock::new(10);
        c.advance(adv(3, 0, 2)).unwrap();
        assert!(c.now().contiguous());
        assert_eq!(c.now().end(), 13);
    }
}
