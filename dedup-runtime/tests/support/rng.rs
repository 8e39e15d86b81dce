//! A small deterministic generator (xorshift64*) for the fingerprint tests: the same values, in
//! the same order, on every run, so a failure reproduces.
#![allow(dead_code, unreachable_pub)]

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }

    pub fn chance(&mut self) -> bool {
        self.next().is_multiple_of(2)
    }
}
