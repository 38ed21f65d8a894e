// SPDX-License-Identifier: GPL-2.0
use crate::itree::{Arena, ArenaFull, ITree, Node};
use crate::policy::{hash_ptr, Policy, TreeCount};

/// A Vec arena with an optional capacity limit (to test allocation failure).
struct VecArena(Vec<Node>, usize);

impl Arena for VecArena {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: u32) -> &Node {
        &self.0[i as usize]
    }
    fn get_mut(&mut self, i: u32) -> &mut Node {
        &mut self.0[i as usize]
    }
    fn push(&mut self, n: Node) -> Result<(), ArenaFull> {
        if self.0.len() >= self.1 {
            return Err(ArenaFull);
        }
        self.0.push(n);
        Ok(())
    }
}

/// Deterministic xorshift64 for reproducible random operations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn reference_query(model: &[(u64, u64, usize)], qs: u64, ql: u64) -> Vec<(u64, u64, usize)> {
    let mut v: Vec<_> = model.iter().copied().filter(|&(s, l, _)| s <= ql && l >= qs).collect();
    v.sort();
    v
}

#[test]
fn random_operations_match_reference_model() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut t = ITree::new(VecArena(Vec::new(), usize::MAX), seed as u32);
        let mut model: Vec<(u64, u64, usize)> = Vec::new();
        let mut next_key = 0x1000usize;
        for op in 0..4000 {
            match rng.below(10) {
                0..=4 => {
                    // Insert, with many equal starts (like VMAs mapping pgoff 0).
                    let s = rng.below(64) * if rng.below(2) == 0 { 1 } else { 16 };
                    let l = s + rng.below(40);
                    next_key += 0x100;
                    t.insert(s, l, next_key).unwrap();
                    model.push((s, l, next_key));
                }
                5..=7 if !model.is_empty() => {
                    let i = rng.below(model.len() as u64) as usize;
                    let (s, _, k) = model.swap_remove(i);
                    assert!(t.remove(s, k), "seed {seed} op {op}: remove of a present key failed");
                }
                8 => {
                    // Removing an absent key changes nothing.
                    assert!(!t.remove(rng.below(2000), 1));
                }
                _ => {
                    let qs = rng.below(1100);
                    let ql = qs + rng.below(100);
                    let mut got = Vec::new();
                    t.query(qs, ql, &mut |n| got.push((n.start, n.last, n.key)));
                    let want = reference_query(&model, qs, ql);
                    assert!(
                        got.windows(2).all(|w| (w[0].0, w[0].2) < (w[1].0, w[1].2)),
                        "query results not in (start, key) order"
                    );
                    let mut sorted = got.clone();
                    sorted.sort();
                    assert_eq!(sorted, want, "seed {seed} op {op}: query [{qs},{ql}]");
                }
            }
            assert_eq!(t.len(), model.len());
            if op % 97 == 0 {
                t.check().unwrap();
            }
        }
        t.check().unwrap();
        let mut all = Vec::new();
        t.query(0, u64::MAX, &mut |n| all.push((n.start, n.last, n.key)));
        model.sort_by_key(|&(s, _, k)| (s, k));
        assert_eq!(all, model);
        // Freed slots are reused: the arena never exceeds the peak live count.
        assert!(t.arena().len() <= 4000);
    }
}

#[test]
fn six_thousand_vmas_of_one_file() {
    // The seed's libc.so case: >6000 VMAs, all at small pgoffs.
    let mut t = ITree::new(VecArena(Vec::new(), usize::MAX), 7);
    for k in 0..6000usize {
        t.insert((k % 5) as u64 * 0x20, (k % 5) as u64 * 0x20 + 0x1f, 0xffff_8880_0000_0000 + k * 256)
            .unwrap();
    }
    t.check().unwrap();
    let mut n = 0;
    t.query(0x40, 0x40, &mut |_| n += 1);
    assert_eq!(n, 1200);
    for k in (0..6000usize).step_by(2) {
        assert!(t.remove((k % 5) as u64 * 0x20, 0xffff_8880_0000_0000 + k * 256));
    }
    t.check().unwrap();
    assert_eq!(t.len(), 3000);
}

#[test]
fn allocation_failure_leaves_tree_unchanged() {
    let mut t = ITree::new(VecArena(Vec::new(), 3), 1);
    for k in 0..3 {
        t.insert(k, k + 1, k as usize).unwrap();
    }
    assert_eq!(t.insert(9, 10, 99), Err(ArenaFull));
    assert_eq!(t.len(), 3);
    t.check().unwrap();
    // A freed slot makes room again.
    assert!(t.remove(1, 1));
    t.insert(9, 10, 99).unwrap();
    t.check().unwrap();
}

#[test]
fn policy_names_round_trip() {
    for p in Policy::ALL {
        assert_eq!(Policy::parse(p.name()), Some(p));
    }
    for bad in ["", "Node", "nodes", "node ", "smallest\n", "x"] {
        assert_eq!(Policy::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn tree_counts_parse_and_resolve() {
    assert_eq!(TreeCount::parse("nodes"), Some(TreeCount::Nodes));
    assert_eq!(TreeCount::parse("cpus32"), Some(TreeCount::Cpus32));
    assert_eq!(TreeCount::parse("1"), Some(TreeCount::Fixed(1)));
    assert_eq!(TreeCount::parse("1024"), Some(TreeCount::Fixed(1024)));
    for bad in ["0", "1025", "-1", "+3", "", "abc", "4294967296", "3 "] {
        assert_eq!(TreeCount::parse(bad), None, "{bad:?}");
    }
    // v2's non-NUMA count: ALIGN(nr_cpu_ids, 32).
    assert_eq!(TreeCount::Cpus32.resolve(1, 2), 32);
    assert_eq!(TreeCount::Cpus32.resolve(1, 33), 64);
    assert_eq!(TreeCount::Cpus32.resolve(12, 384), 384);
    assert_eq!(TreeCount::Nodes.resolve(12, 384), 12);
    assert_eq!(TreeCount::Fixed(5).resolve(2, 4), 5);
}

#[test]
fn policies_choose_as_specified() {
    let counts = [5u64, 3, 3, 9];
    assert_eq!(Policy::Smallest.choose(&counts, 0, 0, 0), 1, "first of the smallest");
    assert_eq!(Policy::Smallest.choose(&[4, 0, 0, 1], 0, 0, 0), 1);
    assert_eq!(Policy::Node.choose(&counts, 0, 3, 2), 2);
    assert_eq!(Policy::Node.choose(&counts, 0, 3, 6), 2, "node modulo trees");
    assert_eq!(Policy::Cpu.choose(&counts, 0, 7, 0), 3);
    assert_eq!(Policy::Single.choose(&counts, 12345, 7, 1), 0);
    assert_eq!(Policy::Hash.choose(&[0; 1], 12345, 7, 1), 0);
}

#[test]
fn smallest_keeps_trees_within_one() {
    // Inserting only: smallest keeps max - min <= 1 whatever the order.
    let mut counts = vec![0u64; 7];
    for _ in 0..1000 {
        let i = Policy::Smallest.choose(&counts, 0, 0, 0);
        counts[i] += 1;
        let (mx, mn) = (*counts.iter().max().unwrap(), *counts.iter().min().unwrap());
        assert!(mx - mn <= 1);
    }
}

#[test]
fn hash_spreads_slab_aligned_pointers() {
    // vm_area_struct objects are slab objects: consecutive, 256-byte aligned.
    for trees in [2usize, 4, 12] {
        let mut counts = vec![0u64; trees];
        for k in 0..12000usize {
            let i = Policy::Hash.choose(&counts, 0xffff_8880_1234_0000 + k * 256, 0, 0);
            counts[i] += 1;
        }
        let expect = 12000 / trees as u64;
        for &c in &counts {
            assert!(c > expect * 8 / 10 && c < expect * 12 / 10, "{trees} trees: {counts:?}");
        }
    }
    assert_ne!(hash_ptr(0x1000), hash_ptr(0x1100));
}
