//! The cloud services, their URLs, registerResp keys and default schedule (protocol.md §1.5).
//!
//! Below the messages: it knows the services' keys, not the message that carries them
//! ([`ServiceSwitches`] is how registerResp is read).

use std::time::Duration;

/// A cloud service the device talks to after registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// device/heatbeat: `keepAlive`.
    Heartbeat,
    /// device/open: open the gate on command.
    Open,
    /// device/update: firmware upgrade.
    Update,
    /// device/reboot.
    Reboot,
    /// device/setDevInfo: parameters from the cloud.
    SetDevInfo,
    /// device/uploadDevInfo: parameters to the cloud, once at boot.
    UploadDevInfo,
    /// device/broadcast: voice, text, Wiegand and RS485 output.
    Broadcast,
    /// device/setTime: clock setting.
    SetTime,
    /// person/operate: add, modify, delete persons.
    PersonOperate,
    /// person/count: report the number of persons.
    PersonCount,
    /// person/info: report every person.
    PersonInfo,
    /// face/record: pass records, event-driven.
    Record,
    /// face/photo: take a photo on command.
    Photo,
    /// face/clear: clear pass records.
    ClearRecords,
    /// face/get: report pass records by condition.
    GetRecords,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 15] = [
        Service::Heartbeat,
        Service::Open,
        Service::Update,
        Service::Reboot,
        Service::SetDevInfo,
        Service::UploadDevInfo,
        Service::Broadcast,
        Service::SetTime,
        Service::PersonOperate,
        Service::PersonCount,
        Service::PersonInfo,
        Service::Record,
        Service::Photo,
        Service::ClearRecords,
        Service::GetRecords,
    ];

    /// The URL path appended to the cloud base URL, spelled as the spec does (`heatbeat`).
    pub fn path(self) -> &'static str {
        match self {
            Service::Heartbeat => "/device/heatbeat",
            Service::Open => "/device/open",
            Service::Update => "/device/update",
            Service::Reboot => "/device/reboot",
            Service::SetDevInfo => "/device/setDevInfo",
            Service::UploadDevInfo => "/device/uploadDevInfo",
            Service::Broadcast => "/device/broadcast",
            Service::SetTime => "/device/setTime",
            Service::PersonOperate => "/person/operate",
            Service::PersonCount => "/person/count",
            Service::PersonInfo => "/person/info",
            Service::Record => "/face/record",
            Service::Photo => "/face/photo",
            Service::ClearRecords => "/face/clear",
            Service::GetRecords => "/face/get",
        }
    }

    /// The registerResp key that switches the service on ("1") or off ("0").
    pub fn flag_key(self) -> &'static str {
        match self {
            Service::Heartbeat => "heatbeatService",
            Service::Open => "openService",
            Service::Update => "updateService",
            Service::Reboot => "rebootService",
            Service::SetDevInfo => "setDevInfoService",
            Service::UploadDevInfo => "getDevInfoService",
            Service::Broadcast => "broadcastService",
            Service::SetTime => "setTimeService",
            Service::PersonOperate => "personService",
            Service::PersonCount => "getRegisterCountService",
            Service::PersonInfo => "getRegisterInfoService",
            Service::Record => "recordService",
            Service::Photo => "photoService",
            Service::ClearRecords => "deleteRecordService",
            Service::GetRecords => "getRecordService",
        }
    }

    /// The registerResp key of the service's interval in seconds; `None` for the two services
    /// that do not run on an interval (uploadDevInfo at boot, record on events).
    pub fn interval_key(self) -> Option<&'static str> {
        match self {
            Service::UploadDevInfo | Service::Record => None,
            Service::Heartbeat => Some("heatbeatServiceInterval"),
            Service::Open => Some("openServiceInterval"),
            Service::Update => Some("updateServiceInterval"),
            Service::Reboot => Some("rebootServiceInterval"),
            Service::SetDevInfo => Some("setDevInfoServiceInterval"),
            Service::Broadcast => Some("broadcastServiceInterval"),
            Service::SetTime => Some("setTimeServiceInterval"),
            Service::PersonOperate => Some("personServiceInterval"),
            Service::PersonCount => Some("getRegisterCountServiceInterval"),
            Service::PersonInfo => Some("getRegisterInfoServiceInterval"),
            Service::Photo => Some("photoServiceInterval"),
            Service::ClearRecords => Some("deleteRecordServiceInterval"),
            Service::GetRecords => Some("getRecordServiceInterval"),
        }
    }

    /// Whether the service runs before registerResp says otherwise: only person/operate and
    /// face/record are on by default.
    pub fn default_enabled(self) -> bool {
        matches!(self, Service::PersonOperate | Service::Record)
    }

    /// The spec's default interval; `None` for uploadDevInfo and record.
    pub fn default_interval(self) -> Option<Duration> {
        let secs = match self {
            Service::UploadDevInfo | Service::Record => return None,
            Service::Heartbeat => 60,
            Service::Update | Service::SetTime => 3600,
            Service::Open
            | Service::Reboot
            | Service::SetDevInfo
            | Service::Broadcast
            | Service::PersonOperate
            | Service::PersonCount
            | Service::PersonInfo
            | Service::Photo
            | Service::ClearRecords
            | Service::GetRecords => 30,
        };
        Some(Duration::from_secs(secs))
    }

    /// The msgType of the service's poll request; `None` for services that do not poll.
    pub fn poll_msg_type(self) -> Option<&'static str> {
        match self {
            Service::Heartbeat | Service::UploadDevInfo | Service::Record => None,
            Service::Open => Some("onlineOpenReq"),
            Service::Update => Some("onlineUpdateReq"),
            Service::Reboot => Some("onlineRebootReq"),
            Service::SetDevInfo => Some("onlineSetDevInfoReq"),
            Service::Broadcast => Some("onlineBroadcastReq"),
            Service::SetTime => Some("onlineSetTimeReq"),
            Service::PersonOperate => Some("registerPersonInfoReq"),
            Service::PersonCount => Some("onlineGetRegisterCountReq"),
            Service::PersonInfo => Some("onlineGetRegisterReq"),
            Service::Photo => Some("onlineGetPhotoReq"),
            Service::ClearRecords => Some("onlineDeleteSnapRecordReq"),
            Service::GetRecords => Some("onlineGetRecordReq"),
        }
    }

    /// The service's name for logs, e.g. "device/open".
    pub fn name(self) -> &'static str {
        &self.path()[1..]
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What registerResp says about the services: a flag or interval by its spec key (e.g.
/// `openServiceInterval`), `None` for a key it does not have, `Some("")` for one that was absent.
pub trait ServiceSwitches {
    /// The value of a service flag or interval key.
    fn switch(&self, key: &str) -> Option<&str>;
}

/// Which services run and how often, as registerResp left them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTable {
    enabled: [bool; 15],
    intervals: [Option<Duration>; 15],
}

impl Default for ServiceTable {
    fn default() -> ServiceTable {
        ServiceTable::defaults()
    }
}

impl ServiceTable {
    /// The device defaults: person/operate and face/record on, the spec's intervals.
    pub fn defaults() -> ServiceTable {
        ServiceTable {
            enabled: Service::ALL.map(Service::default_enabled),
            intervals: Service::ALL.map(Service::default_interval),
        }
    }

    /// The table a registerResp asks for.
    ///
    /// A flag "1" switches the service on and "0" off; an absent flag, or any other text, keeps
    /// the default (the spec is silent, and keeping the default never turns off person sync or
    /// record upload by accident). An interval is whole seconds; absent, non-numeric or "0"
    /// keeps the default, so the result is always at least one second.
    pub fn from_register_resp(resp: &impl ServiceSwitches) -> ServiceTable {
        let mut table = ServiceTable::defaults();
        for service in Service::ALL {
            let i = service as usize;
            match resp.switch(service.flag_key()) {
                Some("1") => table.enabled[i] = true,
                Some("0") => table.enabled[i] = false,
                _ => {}
            }
            if let Some(text) = service.interval_key().and_then(|k| resp.switch(k)) {
                table.set_interval(service, text);
            }
        }
        table
    }

    /// Whether the service is on.
    pub fn enabled(&self, service: Service) -> bool {
        self.enabled[service as usize]
    }

    /// The service's interval; `None` for uploadDevInfo and record, which do not poll.
    pub fn interval(&self, service: Service) -> Option<Duration> {
        self.intervals[service as usize]
    }

    /// Sets an interval from seconds text, with the rules of [`ServiceTable::from_register_resp`]
    /// except that invalid text keeps the current interval; used for person/operate's
    /// `registerInterval`. Returns whether the interval changed to the given value.
    pub fn set_interval(&mut self, service: Service, seconds: &str) -> bool {
        let i = service as usize;
        if self.intervals[i].is_none() {
            return false;
        }
        match seconds.trim().parse::<u64>() {
            Ok(secs) if secs >= 1 => {
                self.intervals[i] = Some(Duration::from_secs(secs));
                true
            }
            _ => false,
        }
    }

    /// Switches a service on or off (e.g. for a local override).
    pub fn set_enabled(&mut self, service: Service, on: bool) {
        self.enabled[service as usize] = on;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_keys_are_spelled_as_the_spec() {
        assert_eq!(Service::Heartbeat.path(), "/device/heatbeat");
        assert_eq!(Service::Heartbeat.flag_key(), "heatbeatService");
        assert_eq!(Service::GetRecords.path(), "/face/get");
        assert_eq!(Service::UploadDevInfo.flag_key(), "getDevInfoService");
        assert_eq!(Service::PersonInfo.interval_key(), Some("getRegisterInfoServiceInterval"));
        assert_eq!(Service::Open.to_string(), "device/open");
        for s in Service::ALL {
            assert_eq!(s.interval_key().is_some(), s.default_interval().is_some(), "{s}");
            assert_eq!(Service::ALL[s as usize], s);
        }
    }

    #[test]
    fn defaults_follow_section_1_5() {
        let t = ServiceTable::defaults();
        let on: Vec<Service> = Service::ALL.into_iter().filter(|s| t.enabled(*s)).collect();
        assert_eq!(on, [Service::PersonOperate, Service::Record]);
        assert_eq!(t.interval(Service::Heartbeat), Some(Duration::from_secs(60)));
        assert_eq!(t.interval(Service::Update), Some(Duration::from_secs(3600)));
        assert_eq!(t.interval(Service::SetTime), Some(Duration::from_secs(3600)));
        assert_eq!(t.interval(Service::Open), Some(Duration::from_secs(30)));
        assert_eq!(t.interval(Service::Record), None);
        assert_eq!(t.interval(Service::UploadDevInfo), None);
    }

    #[test]
    fn register_interval_override() {
        let mut t = ServiceTable::defaults();
        assert!(t.set_interval(Service::PersonOperate, "1"));
        assert_eq!(t.interval(Service::PersonOperate), Some(Duration::from_secs(1)));
        assert!(!t.set_interval(Service::PersonOperate, ""));
        assert!(!t.set_interval(Service::PersonOperate, "0"));
        assert_eq!(t.interval(Service::PersonOperate), Some(Duration::from_secs(1)));
        assert!(!t.set_interval(Service::Record, "5"));
        assert_eq!(t.interval(Service::Record), None);
        t.set_enabled(Service::Photo, true);
        assert!(t.enabled(Service::Photo));
    }
}
