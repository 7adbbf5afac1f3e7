//! Every cloud answer the daemon decodes, with the bytes as the HTTP body: the poll commands of
//! every service (checked msgType), the answers decoded without a msgType check (registerResp,
//! keepAliveResp, uploadDevInfoResp, uploadRecordResp, the stream acknowledgements), and what
//! the services do next with the decoded fields that stays pure.
#![no_main]

use std::collections::BTreeMap;

use facegate::access::{AccessPolicy, DeviceWindows};
use facegate::protocol::{self, Command, DeviceParams, ErrorCode, ServiceTable, time};
use facegate::protocol::{
    BroadcastCommand, ClearRecordsCommand, GetRecordsCommand, KeepAliveResp, OpenCommand, PersonCountCommand,
    PersonInfoAck, PersonInfoCommand, PersonOperateCommand, PhotoCommand, RebootCommand, RecordAck, RegisterResp,
    SetDevInfoCommand, SetTimeCommand, UpdateCommand, UploadDevInfoResp, UploadRecordResp,
};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

/// What every command goes through: its flag and the result echoing its msgID, which must
/// encode with strings only whatever the cloud sent.
fn command<C: DeserializeOwned + Command>(body: &[u8]) -> Option<C> {
    let cmd = protocol::decode_message::<C>(body).ok()?;
    let _ = cmd.requested();
    let result = cmd.result("FUZZ0001", ErrorCode::Ok, "");
    let out = protocol::encode(&result);
    let value: serde_json::Value = serde_json::from_slice(&out).expect("encode writes JSON");
    assert!(protocol::only_strings(&value), "a result holds a non-string: {value}");
    Some(cmd)
}

fn params(changes: &BTreeMap<String, String>) {
    let current = DeviceParams::defaults();
    if let Ok(applied) = current.apply(changes) {
        // What the daemon puts in force after an accepted setDevInfo.
        let _ = AccessPolicy::from_params(applied.params.as_map());
        let _ = DeviceWindows::parse(applied.params.pass_time());
        let _ = applied.params.time_zone_hours();
        let _ = applied.params.open_door_time_delay_ms();
        let _ = applied.params.entrance_serial_baud_rate();
        let _ = applied.params.for_log();
        let stored = DeviceParams::from_stored(applied.params.as_map());
        assert_eq!(stored.as_map(), applied.params.as_map(), "stored parameters read back differently");
    }
}

fuzz_target!(|body: &[u8]| {
    let _ = protocol::msg_type(body);

    if let Ok(resp) = protocol::decode::<RegisterResp>(body) {
        let _ = resp.accepted();
        let table = ServiceTable::from_register_resp(&resp);
        for s in facegate::protocol::Service::ALL {
            let _ = (table.enabled(s), table.interval(s));
        }
        let _ = time::parse_cloud_timestamp_ms(&resp.register_time);
    }
    if let Ok(resp) = protocol::decode::<KeepAliveResp>(body) {
        let _ = resp.error_code.trim();
    }
    let _ = protocol::decode::<UploadDevInfoResp>(body);
    if let Ok(resp) = protocol::decode::<UploadRecordResp>(body) {
        let _ = resp.control();
    }
    if let Ok(ack) = protocol::decode::<PersonInfoAck>(body) {
        let _ = ack.acknowledges(0);
    }
    if let Ok(ack) = protocol::decode::<RecordAck>(body) {
        let _ = ack.acknowledges(u64::MAX);
    }

    let _ = command::<OpenCommand>(body);
    if let Some(cmd) = command::<UpdateCommand>(body) {
        let _ = cmd.expected_length();
    }
    let _ = command::<RebootCommand>(body);
    if let Some(cmd) = command::<SetDevInfoCommand>(body) {
        params(&cmd.params);
    }
    if let Some(cmd) = command::<BroadcastCommand>(body) {
        let _ = protocol::binary::decode_base64("rs485Data", &cmd.rs485_data);
        if let Ok(card) = facegate::model::CardNumber::parse(&cmd.wg_data) {
            let _ = facegate::hw::wiegand::out_frame(
                facegate::protocol::devinfo::WiegandOutMode::CardNumber,
                &card,
                Default::default(),
                Default::default(),
            );
        }
    }
    if let Some(cmd) = command::<SetTimeCommand>(body) {
        if let Ok(local) = time::parse_set_time(&cmd.time_stamp) {
            for tz in [-11, 0, 8, 12] {
                let ms = time::unix_ms(local, tz);
                let _ = time::local_time(ms, tz);
            }
        }
    }
    if let Some(cmd) = command::<PersonOperateCommand>(body) {
        for info in &cmd.persons {
            let _ = info.operation();
            let _ = info.to_person();
            let _ = info.decode_photos();
            let _ = facegate::cloud::person_operate::validate(info);
        }
    }
    let _ = command::<PersonCountCommand>(body);
    let _ = command::<PersonInfoCommand>(body);
    let _ = command::<PhotoCommand>(body);
    let _ = command::<ClearRecordsCommand>(body);
    if let Some(cmd) = command::<GetRecordsCommand>(body) {
        for t in [&cmd.snap_time_start, &cmd.snap_time_end] {
            if let Ok(Some(local)) = time::parse_snap_time(t) {
                let _ = time::unix_ms(local, 8);
            }
        }
    }
});
