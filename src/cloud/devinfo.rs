//! `device/setDevInfo` (the cloud sets device parameters) and `device/uploadDevInfo` (the
//! device reports them once at start).
//!
//! A setDevInfo command is applied all or nothing: one invalid value rejects the whole set with
//! 400 and nothing changes. Accepted values are stored first, then put in force without a
//! restart. Secret values (devicePassword, wireless passwords, keys) are never logged.

use std::collections::BTreeMap;

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{
    Command, DeviceIdentity, ErrorCode, Service, SetDevInfoCommand, SetDevInfoResult, UploadDevInfo, UploadDevInfoResp,
};
use crate::settings::Settings;

/// Polls for new device parameters.
pub fn poll_set(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let cmd: SetDevInfoCommand = s.poll(Service::SetDevInfo)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    let current = s.handles.settings.get();
    let (code, msg, param) = match current.params.apply(&cmd.params) {
        Ok(applied) => {
            if !applied.unknown.is_empty() {
                log::info!("setDevInfo {}: not device parameters, ignored: {}", cmd.msg_id, applied.unknown.join(", "));
            }
            let changes: BTreeMap<String, String> =
                applied.changed.iter().map(|k| (k.clone(), applied.params.get(k).to_string())).collect();
            match s.store.save_params(&changes) {
                Ok(()) => {
                    log::info!(
                        "setDevInfo {}: {} parameter(s) changed: {}",
                        cmd.msg_id,
                        applied.changed.len(),
                        applied.changed.join(", ")
                    );
                    s.handles.gate.apply_settings(Settings::new(applied.params));
                    (ErrorCode::Ok, String::new(), applied.changed.join(","))
                }
                Err(e) => (ErrorCode::Failed, format!("cannot store the parameters: {e}"), String::new()),
            }
        }
        Err(errors) => {
            log::warn!("setDevInfo {} rejected: {errors}", cmd.msg_id);
            let code = ErrorCode::DeviceParamsInvalid;
            (code, format!("{}: {errors}", code.prompt()), String::new())
        }
    };
    let msg = if msg.is_empty() { code.prompt().to_string() } else { msg };
    let result = SetDevInfoResult::new(&cmd, s.device_no(), code, &msg, &param);
    s.report(Service::SetDevInfo.path(), &result)?;
    s.note_command(&cmd.msg_id);
    Ok(Outcome::Command)
}

/// Sends the full parameter set once (getDevInfoService on): stored values, defaults otherwise.
pub fn upload(s: &mut Session<'_>) {
    let cfg = s.cfg().clone();
    let identity = DeviceIdentity::new(&cfg.device.device_no, &cfg.device.protocol_version, &cfg.cloud.url);
    let msg = UploadDevInfo { fields: s.handles.settings.get().params.to_upload(&identity) };
    match s.exchange::<UploadDevInfoResp>(Service::UploadDevInfo.path(), &msg) {
        Ok(resp) if resp.error_code.trim() == "200" => log::warn!("uploadDevInfo answered 200: {}", resp.msg),
        Ok(_) => log::info!("device parameters uploaded"),
        Err(e) => log::warn!("uploadDevInfo failed: {e}"),
    }
}
