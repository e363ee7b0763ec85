//! Recognising a delivery already handled.

use std::{
    collections::{HashMap, VecDeque, hash_map::DefaultHasher},
    hash::BuildHasherDefault,
    time::{Duration, SystemTime},
};

/// SipHash with fixed keys: deterministic (no OS randomness). Flooding is not a concern
/// because only ids of verified deliveries, chosen by the sender, are recorded.
type Ids = HashMap<Box<str>, (SystemTime, u64), BuildHasherDefault<DefaultHasher>>;

/// Remembers recent delivery ids so that a retried delivery is handled once.
///
/// Svix retries a delivery that was not answered with a 2xx (immediately, then after 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h and 10 h: about 27 h 35 min in all) and every retry carries
/// the same delivery id ([`WebhookEvent::delivery_id`](super::WebhookEvent::delivery_id)), so
/// a receiver that was slow to answer, or whose answer was lost, sees the same event again.
///
/// **Bounds.**
/// - *Time*: an id is remembered for [`DeliveryDeduper::DEFAULT_EXPIRY`] (48 hours, longer
///   than the whole retry schedule with room for a late first attempt) from the first time it
///   was recorded, unless changed with [`DeliveryDeduper::with_expiry`].
/// - *Memory*: at most `capacity` ids, allocated as they arrive. Each costs two heap copies of
///   the id (Svix ids are about 30 bytes) and about 100 bytes of map and queue entries: some
///   200 bytes in all, so 100 000 ids take about 20 MB (an estimate from the types' sizes,
///   allocator overhead included). When full,
///   the oldest id is forgotten first; a late retry of a forgotten id is then seen as new, so
///   size it above the number of deliveries you expect within the expiry.
///
/// It reads no clock (`now` comes in, as elsewhere in the core) and holds ids only, not
/// events. It is per process: several replicas behind a load balancer need a shared store
/// (a database unique key on the delivery id) instead. Manual re-sends from the Svix
/// dashboard after the expiry are, by design, seen as new.
///
/// Record a delivery when you start handling it, and [`remove`](Self::remove) it if handling
/// fails, so that Svix's retry is handled rather than dropped:
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use pipevideo_core::webhook::DeliveryDeduper;
///
/// let mut seen = DeliveryDeduper::with_capacity(10_000);
/// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_827_200);
///
/// assert!(seen.insert("msg_1", t0)); // first time: handle it
/// assert!(!seen.insert("msg_1", t0 + Duration::from_secs(5))); // a retry: answer 2xx, skip
///
/// assert!(seen.insert("msg_2", t0));
/// seen.remove("msg_2"); // handling failed: answer 5xx, Svix will retry
/// assert!(seen.insert("msg_2", t0 + Duration::from_secs(300)));
///
/// // After the expiry an id counts as new again.
/// assert!(seen.insert("msg_1", t0 + DeliveryDeduper::DEFAULT_EXPIRY));
/// ```
#[derive(Debug, Clone)]
pub struct DeliveryDeduper {
    capacity: usize,
    expiry: Duration,
    /// Each remembered id, when it was recorded, and the record's sequence number.
    seen: Ids,
    /// Records in insertion order. May hold a stale record of an id re-recorded after it
    /// expired out of order (a clock that stepped back), dropped when it reaches the front;
    /// its length bounds `seen`'s.
    order: VecDeque<(u64, SystemTime, Box<str>)>,
    /// The next record's sequence number.
    next: u64,
}

impl DeliveryDeduper {
    /// How long an id is remembered by default: 48 hours, beyond Svix's ~27.6-hour retry span.
    pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(48 * 60 * 60);

    /// Remembers at most `capacity` ids (a capacity of 0 is taken as 1) for
    /// [`DEFAULT_EXPIRY`](Self::DEFAULT_EXPIRY). Memory is allocated as ids arrive, not up front.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            expiry: Self::DEFAULT_EXPIRY,
            seen: Ids::default(),
            order: VecDeque::new(),
            next: 0,
        }
    }

    /// Sets how long an id is remembered after it was first recorded. Keep it longer than the
    /// sender's retry schedule.
    #[must_use]
    pub fn with_expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry;
        self
    }

    /// The most ids remembered at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long an id is remembered.
    pub fn expiry(&self) -> Duration {
        self.expiry
    }

    /// How many ids are remembered now, including any that expired but were not yet dropped
    /// (expired ids are dropped by [`insert`](Self::insert)).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Whether `delivery_id` was recorded and has not expired at `now`.
    #[must_use]
    pub fn contains(&self, delivery_id: &str, now: SystemTime) -> bool {
        self.seen
            .get(delivery_id)
            .is_some_and(|&(at, _)| !self.expired(at, now))
    }

    /// Records `delivery_id` as handled at `now`. Returns `true` when it is new (not recorded,
    /// or recorded so long ago that it expired): handle the delivery. Returns `false` for a
    /// repeat: skip it, and answer 2xx so that the sender stops retrying.
    ///
    /// A repeat does not extend the expiry, which counts from the first record.
    #[must_use = "`false` means the delivery was already handled"]
    pub fn insert(&mut self, delivery_id: &str, now: SystemTime) -> bool {
        self.drop_expired(now);
        if self.contains(delivery_id, now) {
            return false;
        }
        let id: Box<str> = delivery_id.into();
        let seq = self.next;
        self.next += 1;
        self.seen.insert(id.clone(), (now, seq));
        self.order.push_back((seq, now, id));
        while self.order.len() > self.capacity {
            self.pop_front();
        }
        true
    }

    /// Forgets `delivery_id`, so that its next delivery counts as new (use it when handling
    /// failed). Returns whether it was remembered.
    pub fn remove(&mut self, delivery_id: &str) -> bool {
        let Some((_, seq)) = self.seen.remove(delivery_id) else {
            return false;
        };
        // Rare (failed handling), so a linear scan keeps `order` free of stale records.
        self.order.retain(|&(s, _, _)| s != seq);
        true
    }

    fn expired(&self, recorded: SystemTime, now: SystemTime) -> bool {
        now.duration_since(recorded)
            .is_ok_and(|age| age >= self.expiry)
    }

    /// Drops expired records from the front. Stops at the first live one, so a clock that
    /// steps backwards only delays expiry; capacity still bounds memory.
    fn drop_expired(&mut self, now: SystemTime) {
        while let Some(&(_, at, _)) = self.order.front() {
            if !self.expired(at, now) {
                break;
            }
            self.pop_front();
        }
    }

    /// Removes the oldest record, and its id when the record is the id's current one.
    fn pop_front(&mut self) {
        if let Some((seq, _, id)) = self.order.pop_front()
            && self.seen.get(&id).is_some_and(|&(_, s)| s == seq)
        {
            self.seen.remove(&id);
        }
    }
}
