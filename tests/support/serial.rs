//! Tests that must run alone in their binary, and the tests that stand aside for them.
//!
//! [`alone()`] takes the binary's lock for writing, [`beside_others()`] for reading; either
//! keeps it until the test's thread ends (libtest runs each test on a thread of its
//! own), that is after the test's runtime has shut down, so nothing the test left
//! running reaches the next one. A test that calls neither is not held back.
#![allow(dead_code)] // also included alone, by tests/fake

use std::cell::RefCell;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

static LOCK: RwLock<()> = RwLock::new(());

enum Held {
    Alone(RwLockWriteGuard<'static, ()>),
    Beside(RwLockReadGuard<'static, ()>),
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// No other test that calls [`alone()`] or [`beside_others()`] runs while this one does.
pub fn alone() {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        match *held {
            Some(Held::Alone(_)) => {}
            Some(Held::Beside(_)) => panic!("alone() after beside_others() in one test"),
            None => {
                let guard = LOCK.write().unwrap_or_else(PoisonError::into_inner);
                *held = Some(Held::Alone(guard));
            }
        }
    });
}

/// This test runs beside any others, but never beside one that runs [`alone()`].
pub fn beside_others() {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        if held.is_none() {
            let guard = LOCK.read().unwrap_or_else(PoisonError::into_inner);
            *held = Some(Held::Beside(guard));
        }
    });
}
