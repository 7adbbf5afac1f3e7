//! Streamed uploads (person/info, face/get): one message per item, each acknowledged by the
//! cloud with the same `index`; a wrong or missing index re-sends the same item, a bounded
//! number of times with back-off.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cloud::{Backoff, Outcome, PollError, Session};
use crate::protocol::{ItemHeader, PersonInfoAck, RecordAck, Service};

/// Attempts per item before the run is abandoned.
pub const MAX_ITEM_ATTEMPTS: u32 = 8;

/// A fresh token for one streamed run: the Unix time in seconds, like the spec's example.
pub fn new_token() -> String {
    (crate::clock::now_ms() / 1000).to_string()
}

/// The cloud's acknowledgement of one item.
pub trait Ack: DeserializeOwned {
    /// Whether it acknowledges `index`.
    fn acknowledges(&self, index: u64) -> bool;
    /// The index it names, for logs.
    fn index(&self) -> &str;
}

impl Ack for PersonInfoAck {
    fn acknowledges(&self, index: u64) -> bool {
        PersonInfoAck::acknowledges(self, index)
    }
    fn index(&self) -> &str {
        &self.index
    }
}

impl Ack for RecordAck {
    fn acknowledges(&self, index: u64) -> bool {
        RecordAck::acknowledges(self, index)
    }
    fn index(&self) -> &str {
        &self.index
    }
}

/// Sends one item until the cloud acknowledges `index`.
pub fn send_acked<A: Ack>(s: &mut Session<'_>, path: &str, item: &impl Serialize, index: u64) -> Result<(), PollError> {
    let cfg = &s.cfg().cloud;
    let mut backoff = Backoff::new(cfg.retry_initial_ms, cfg.retry_max_ms);
    let mut last = String::new();
    for attempt in 1..=MAX_ITEM_ATTEMPTS {
        match s.exchange::<A>(path, item) {
            Ok(ack) if ack.acknowledges(index) => return Ok(()),
            Ok(ack) => last = format!("acknowledged index {:?} instead of {index}", ack.index()),
            Err(PollError::Shutdown) => return Err(PollError::Shutdown),
            Err(e) => last = e.to_string(),
        }
        if attempt == MAX_ITEM_ATTEMPTS {
            break;
        }
        let wait = backoff.next_delay();
        log::warn!("{path}: item {index} not acknowledged ({last}); sending it again in {} ms", wait.as_millis());
        if s.handles.lifecycle.sleep(wait) {
            return Err(PollError::Shutdown);
        }
    }
    Err(PollError::Malformed(format!("item {index} abandoned after {MAX_ITEM_ATTEMPTS} attempts: {last}")))
}

/// The answer to an extraction that matched nothing: the command's `msgType` with a fresh
/// token, the total ("0", in `total_field`: `personNum` / `recordNum`) and an empty index, so
/// the cloud can tell "nothing matched" from a broken answer (spec 2.3.4: token and total are
/// required). There is no item, so no index for the cloud to acknowledge: it is reported like
/// a result, until the cloud answers 2xx.
pub fn report_empty(
    s: &mut Session<'_>,
    service: Service,
    msg_type: &str,
    msg_id: &str,
    what: &str,
) -> Result<Outcome, PollError> {
    let total_field = if service == Service::PersonInfo { "personNum" } else { "recordNum" };
    let mut msg = serde_json::Map::new();
    for (k, v) in [
        ("msgType", msg_type),
        ("msgID", msg_id),
        ("deviceNo", s.device_no()),
        ("token", &new_token()),
        ("errorCode", crate::protocol::ErrorCode::Ok.code()),
        ("msg", &format!("0 {what}")),
        (total_field, "0"),
        ("index", ""),
    ] {
        msg.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    s.report(service.path(), &msg)?;
    s.last_command = Some(msg_id.trim().to_string());
    Ok(Outcome::Command)
}

/// Streams `total` items of one run to `service`: one token, `index` 0..total-1, each item
/// built by `next` (from the store, one at a time, so memory stays flat) and sent until the
/// cloud acknowledges its index. The run ends early when `next` has no more (the store
/// shrank) or an item is abandoned; the cloud asks again and a fresh run starts.
pub fn upload_run<'a, A: Ack, T: Serialize>(
    s: &mut Session<'a>,
    service: Service,
    msg_id: &str,
    total: u64,
    mut next: impl FnMut(&mut Session<'a>, &ItemHeader) -> Result<Option<T>, PollError>,
) -> Result<Outcome, PollError> {
    let mut header = ItemHeader {
        msg_id: msg_id.to_string(),
        device_no: s.device_no().to_string(),
        token: new_token(),
        total,
        index: 0,
    };
    let path = service.path();
    while header.index < total {
        let Some(item) = next(s, &header)? else { break };
        if let Err(e) = send_acked::<A>(s, path, &item, header.index) {
            log::warn!("{path} {msg_id} stopped at index {}: {e}", header.index);
            return match e {
                PollError::Shutdown => Err(e),
                _ => Ok(Outcome::Idle),
            };
        }
        header.index += 1;
        crate::clock::watchdog_ping();
    }
    log::info!("{path} {msg_id}: {} of {total} items uploaded", header.index);
    s.last_command = Some(msg_id.trim().to_string());
    Ok(Outcome::Command)
}
