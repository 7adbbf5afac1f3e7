//! The session's messages: device/register, the heartbeat (device/heatbeat) and the poll
//! requests every polled service sends.

use serde::{Deserialize, Serialize};

use crate::protocol::Message;
use crate::protocol::codes::ErrorCode;
use crate::protocol::services::{Service, ServiceSwitches};
use crate::protocol::sign::register_sign;

// device/register

/// The versions a device reports when it registers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirmwareVersions {
    /// `protocolVersion`, normally [`crate::protocol::PROTOCOL_VERSION`].
    pub protocol: String,
    /// `hardwareVersion`, e.g. "A2".
    pub hardware: String,
    /// `softwareVersion`: "version number, build time", e.g. "2.1.9 2020-02-13".
    pub software: String,
    /// `algVersion`: the recognizer's version, e.g. "1.0.2-1.2.0".
    pub algorithm: String,
}

/// `register`: sent at boot once the network is up (device → cloud).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Register {
    /// `register`.
    pub msg_type: String,
    /// The factory serial number.
    pub device_no: String,
    /// Unix time in seconds.
    pub register_time: String,
    /// A random string that salts the signature.
    pub rand: String,
    /// Interface version.
    pub protocol_version: String,
    /// Hardware version.
    pub hardware_version: String,
    /// Software version and build time.
    pub software_version: String,
    /// Recognition algorithm version.
    pub alg_version: String,
    /// Upper-case hex MD5, see [`register_sign`].
    pub sign: String,
}
message!(Register, "register");

impl Register {
    /// A signed registration for the given Unix time (seconds) and random salt.
    pub fn new(device_no: &str, unix_s: i64, rand: &str, versions: &FirmwareVersions) -> Register {
        let register_time = crate::protocol::time::register_time(unix_s);
        Register {
            msg_type: Self::MSG_TYPES[0].to_string(),
            device_no: device_no.to_string(),
            sign: register_sign(device_no, &register_time, rand),
            register_time,
            rand: rand.to_string(),
            protocol_version: versions.protocol.clone(),
            hardware_version: versions.hardware.clone(),
            software_version: versions.software.clone(),
            alg_version: versions.algorithm.clone(),
        }
    }
}

/// `registerResp`: the cloud's answer to `register`, switching services on or off.
///
/// Flags are "0"/"1" and intervals are seconds; [`crate::protocol::ServiceTable::from_register_resp`]
/// turns them into the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterResp {
    /// `registerResp`.
    pub msg_type: String,
    /// Device number (the spec does not say the cloud must echo the request's).
    pub device_no: String,
    /// Optional cloud time in ms (13 digits) to set the clock once; see
    /// [`crate::protocol::time::parse_cloud_timestamp_ms`].
    pub register_time: String,
    /// "100" registered, "200" refused (201 may also come).
    pub error_code: String,
    /// `personService`: service flag "1" on, "0" off.
    pub person_service: String,
    /// `personServiceInterval`: interval in seconds.
    pub person_service_interval: String,
    /// `recordService`: service flag "1" on, "0" off.
    pub record_service: String,
    /// `heatbeatService`: service flag "1" on, "0" off.
    pub heatbeat_service: String,
    /// `heatbeatServiceInterval`: interval in seconds.
    pub heatbeat_service_interval: String,
    /// `openService`: service flag "1" on, "0" off.
    pub open_service: String,
    /// `openServiceInterval`: interval in seconds.
    pub open_service_interval: String,
    /// `updateService`: service flag "1" on, "0" off.
    pub update_service: String,
    /// `updateServiceInterval`: interval in seconds.
    pub update_service_interval: String,
    /// `rebootService`: service flag "1" on, "0" off.
    pub reboot_service: String,
    /// `rebootServiceInterval`: interval in seconds.
    pub reboot_service_interval: String,
    /// `setDevInfoService`: service flag "1" on, "0" off.
    pub set_dev_info_service: String,
    /// `setDevInfoServiceInterval`: interval in seconds.
    pub set_dev_info_service_interval: String,
    /// `getDevInfoService`: service flag "1" on, "0" off.
    pub get_dev_info_service: String,
    /// `photoService`: service flag "1" on, "0" off.
    pub photo_service: String,
    /// `photoServiceInterval`: interval in seconds.
    pub photo_service_interval: String,
    /// `deleteRecordService`: service flag "1" on, "0" off.
    pub delete_record_service: String,
    /// `deleteRecordServiceInterval`: interval in seconds.
    pub delete_record_service_interval: String,
    /// `getRegisterCountService`: service flag "1" on, "0" off.
    pub get_register_count_service: String,
    /// `getRegisterCountServiceInterval`: interval in seconds.
    pub get_register_count_service_interval: String,
    /// `getRegisterInfoService`: service flag "1" on, "0" off.
    pub get_register_info_service: String,
    /// `getRegisterInfoServiceInterval`: interval in seconds.
    pub get_register_info_service_interval: String,
    /// `getRecordService`: service flag "1" on, "0" off.
    pub get_record_service: String,
    /// `getRecordServiceInterval`: interval in seconds.
    pub get_record_service_interval: String,
    /// `setTimeService`: service flag "1" on, "0" off.
    pub set_time_service: String,
    /// `setTimeServiceInterval`: interval in seconds.
    pub set_time_service_interval: String,
    /// `broadcastService`: service flag "1" on, "0" off.
    pub broadcast_service: String,
    /// `broadcastServiceInterval`: interval in seconds.
    pub broadcast_service_interval: String,
}
message!(RegisterResp, "registerResp");

impl RegisterResp {
    /// A service flag or interval by its spec key (e.g. `openServiceInterval`); `None` for a
    /// key registerResp does not have, `Some("")` for one that was absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        let value = match key {
            "personService" => &self.person_service,
            "personServiceInterval" => &self.person_service_interval,
            "recordService" => &self.record_service,
            "heatbeatService" => &self.heatbeat_service,
            "heatbeatServiceInterval" => &self.heatbeat_service_interval,
            "openService" => &self.open_service,
            "openServiceInterval" => &self.open_service_interval,
            "updateService" => &self.update_service,
            "updateServiceInterval" => &self.update_service_interval,
            "rebootService" => &self.reboot_service,
            "rebootServiceInterval" => &self.reboot_service_interval,
            "setDevInfoService" => &self.set_dev_info_service,
            "setDevInfoServiceInterval" => &self.set_dev_info_service_interval,
            "getDevInfoService" => &self.get_dev_info_service,
            "photoService" => &self.photo_service,
            "photoServiceInterval" => &self.photo_service_interval,
            "deleteRecordService" => &self.delete_record_service,
            "deleteRecordServiceInterval" => &self.delete_record_service_interval,
            "getRegisterCountService" => &self.get_register_count_service,
            "getRegisterCountServiceInterval" => &self.get_register_count_service_interval,
            "getRegisterInfoService" => &self.get_register_info_service,
            "getRegisterInfoServiceInterval" => &self.get_register_info_service_interval,
            "getRecordService" => &self.get_record_service,
            "getRecordServiceInterval" => &self.get_record_service_interval,
            "setTimeService" => &self.set_time_service,
            "setTimeServiceInterval" => &self.set_time_service_interval,
            "broadcastService" => &self.broadcast_service,
            "broadcastServiceInterval" => &self.broadcast_service_interval,
            _ => return None,
        };
        Some(value)
    }

    /// True when the cloud accepted the registration (`errorCode` "100").
    pub fn accepted(&self) -> bool {
        self.error_code == ErrorCode::Ok.code()
    }
}

impl ServiceSwitches for RegisterResp {
    fn switch(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

// device/heatbeat

/// `keepAlive`: the heartbeat (device → cloud, POSTed to `/device/heatbeat`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeepAlive {
    /// `keepAlive`.
    pub msg_type: String,
    /// Device number.
    pub device_no: String,
}
message!(KeepAlive, "keepAlive");

impl KeepAlive {
    /// A heartbeat of this device.
    pub fn new(device_no: &str) -> KeepAlive {
        KeepAlive { msg_type: Self::MSG_TYPES[0].to_string(), device_no: device_no.to_string() }
    }
}

/// `keepAliveResp`: the cloud's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeepAliveResp {
    /// `keepAliveResp`.
    pub msg_type: String,
    /// Device number.
    pub device_no: String,
    /// A Unix time, unit unstated (10 digits in the spec); see
    /// [`crate::protocol::time::parse_cloud_timestamp_ms`].
    pub register_time: String,
    /// "100" fine, "200" the cloud no longer knows this registration.
    pub error_code: String,
}
message!(KeepAliveResp, "keepAliveResp");

// Poll requests

/// A poll request (`onlineOpenReq`, `registerPersonInfoReq`, ...): every poll asks the same
/// way, only `msgType` and the URL differ.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PollReq {
    /// The poll's msgType, e.g. `onlineOpenReq`.
    pub msg_type: String,
    /// Device number.
    pub device_no: String,
    /// Interface version.
    pub version: String,
}

impl PollReq {
    /// A poll request with the given msgType.
    pub fn new(msg_type: &str, device_no: &str, version: &str) -> PollReq {
        PollReq { msg_type: msg_type.to_string(), device_no: device_no.to_string(), version: version.to_string() }
    }

    /// The poll request of a polled service; `None` for services that do not poll
    /// (heartbeat, uploadDevInfo, record).
    pub fn for_service(service: Service, device_no: &str, version: &str) -> Option<PollReq> {
        service.poll_msg_type().map(|t| PollReq::new(t, device_no, version))
    }
}

/// `onlineOpenReq` (device/open).
pub type OnlineOpenReq = PollReq;
/// `onlineUpdateReq` (device/update).
pub type OnlineUpdateReq = PollReq;
/// `onlineRebootReq` (device/reboot).
pub type OnlineRebootReq = PollReq;
/// `onlineSetDevInfoReq` (device/setDevInfo).
pub type OnlineSetDevInfoReq = PollReq;
/// `onlineBroadcastReq` (device/broadcast).
pub type OnlineBroadcastReq = PollReq;
/// `onlineSetTimeReq` (device/setTime).
pub type OnlineSetTimeReq = PollReq;
/// `registerPersonInfoReq` (person/operate).
pub type RegisterPersonInfoReq = PollReq;
/// `onlineGetRegisterCountReq` (person/count).
pub type OnlineGetRegisterCountReq = PollReq;
/// `onlineGetRegisterReq` (person/info).
pub type OnlineGetRegisterReq = PollReq;
/// `onlineGetPhotoReq` (face/photo).
pub type OnlineGetPhotoReq = PollReq;
/// `onlineDeleteSnapRecordReq` (face/clear).
pub type OnlineDeleteSnapRecordReq = PollReq;
/// `onlineGetRecordReq` (face/get).
pub type OnlineGetRecordReq = PollReq;

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use std::time::Duration;

    use super::super::test_support::*;
    use super::*;
    use crate::protocol::{PROTOCOL_VERSION, ServiceTable, decode, encode};

    #[test]
    fn register_examples() {
        let (reg, out) = round_trip::<Register>(example!("01_register"), &[]);
        assert_eq!(keys(&out).len(), 9);
        let versions = FirmwareVersions {
            protocol: reg.protocol_version.clone(),
            hardware: reg.hardware_version.clone(),
            software: reg.software_version.clone(),
            algorithm: reg.alg_version.clone(),
        };
        let built = Register::new("1683800000106", 1_508_845_817, "e10adc3949ba59abbe56e057f20f883e", &versions);
        assert_eq!(built.sign, "847550488CB351F48D00C84AE2D3ED24");
        assert_eq!(Register { sign: reg.sign.clone(), ..built.clone() }, reg, "all but the spec's broken sign match");
        let out: Value = serde_json::from_slice(&encode(&built)).unwrap();
        assert_has_keys(
            &out,
            &[
                "msgType",
                "deviceNo",
                "registerTime",
                "rand",
                "protocolVersion",
                "hardwareVersion",
                "softwareVersion",
                "algVersion",
                "sign",
            ],
        );

        let (resp, _) = round_trip::<RegisterResp>(example!("02_register_resp"), &[]);
        assert!(resp.accepted());
        assert_eq!(resp.register_time, "1585903632011");
        assert_eq!(resp.get("personServiceInterval"), Some("10"));
    }

    #[test]
    fn heartbeat_examples() {
        let (ka, out) = round_trip::<KeepAlive>(example!("03_keep_alive"), &[]);
        assert_eq!(ka, KeepAlive::new("FaceDevice001"));
        assert_eq!(keys(&out), ["deviceNo", "msgType"]);
        let (resp, _) = round_trip::<KeepAliveResp>(example!("04_keep_alive_resp"), &[]);
        assert_eq!((resp.register_time.as_str(), resp.error_code.as_str()), ("", ""));
    }

    #[test]
    fn every_poll_request_example() {
        let polls = [
            (Service::Open, example!("05_open_req")),
            (Service::Update, example!("08_update_req")),
            (Service::Reboot, example!("11_reboot_req")),
            (Service::SetDevInfo, example!("14_set_dev_info_req")),
            (Service::Broadcast, example!("19_broadcast_req")),
            (Service::SetTime, example!("22_set_time_req")),
            (Service::PersonOperate, example!("25_person_operate_req")),
            (Service::PersonCount, example!("28_person_count_req")),
            (Service::PersonInfo, example!("31_person_info_req")),
            (Service::Photo, example!("37_photo_req")),
            (Service::ClearRecords, example!("40_clear_records_req")),
            (Service::GetRecords, example!("43_get_records_req")),
        ];
        for (service, body) in polls {
            let req: PollReq = decode(body).unwrap();
            let built = PollReq::for_service(service, "FaceDevice001", PROTOCOL_VERSION).unwrap();
            assert_eq!(req, built, "{service}");
            let out: Value = serde_json::from_slice(&encode(&built)).unwrap();
            assert_eq!(out, serde_json::from_slice::<Value>(body).unwrap(), "{service}");
        }
        for service in [Service::Heartbeat, Service::UploadDevInfo, Service::Record] {
            assert!(PollReq::for_service(service, "d", "V1.0").is_none());
        }
    }

    #[test]
    fn register_resp_has_every_service_key() {
        let resp = RegisterResp::default();
        for s in Service::ALL {
            assert_eq!(resp.get(s.flag_key()), Some(""), "{s}");
            if let Some(k) = s.interval_key() {
                assert_eq!(resp.get(k), Some(""), "{s}");
            }
        }
        assert_eq!(resp.get("nonsense"), None);
    }

    #[test]
    fn spec_example_register_resp() {
        let body = example!("02_register_resp");
        let resp: RegisterResp = decode(body).unwrap();
        let t = ServiceTable::from_register_resp(&resp);
        assert!(t.enabled(Service::Open));
        assert!(t.enabled(Service::PersonOperate));
        assert!(t.enabled(Service::Record));
        assert!(!t.enabled(Service::Heartbeat));
        assert!(!t.enabled(Service::GetRecords));
        // Intervals are taken even for services that are off; they apply once switched on.
        assert_eq!(t.interval(Service::Heartbeat), Some(Duration::from_secs(120)));
        assert_eq!(t.interval(Service::Open), Some(Duration::from_secs(30)));
        assert_eq!(t.interval(Service::PersonOperate), Some(Duration::from_secs(10)));
        assert_eq!(t.interval(Service::Photo), Some(Duration::from_secs(30)));
    }
    #[test]
    fn absent_invalid_and_zero_keep_defaults() {
        let body = br#"{"msgType":"registerResp","errorCode":"100",
            "personService":"0","recordService":"yes","heatbeatService":1,
            "heatbeatServiceInterval":"0","openServiceInterval":"abc",
            "updateServiceInterval":"-5","rebootServiceInterval":" 45 ",
            "photoServiceInterval":1.5,"broadcastServiceInterval":"1"}"#;
        let resp: RegisterResp = decode(body).unwrap();
        let t = ServiceTable::from_register_resp(&resp);
        assert!(!t.enabled(Service::PersonOperate));
        assert!(t.enabled(Service::Record), "unrecognised flag text keeps the default");
        assert!(t.enabled(Service::Heartbeat), "a JSON number 1 is \"1\"");
        assert_eq!(t.interval(Service::Heartbeat), Some(Duration::from_secs(60)));
        assert_eq!(t.interval(Service::Open), Some(Duration::from_secs(30)));
        assert_eq!(t.interval(Service::Update), Some(Duration::from_secs(3600)));
        assert_eq!(t.interval(Service::Reboot), Some(Duration::from_secs(45)));
        assert_eq!(t.interval(Service::Photo), Some(Duration::from_secs(30)));
        assert_eq!(t.interval(Service::Broadcast), Some(Duration::from_secs(1)));
        assert_eq!(ServiceTable::from_register_resp(&RegisterResp::default()), ServiceTable::defaults());
    }
}
