//! `device/setDevInfo` (the cloud sets device parameters) and `device/uploadDevInfo` (the
//! device reports them once at start).
//!
//! A setDevInfo command is applied all or nothing: one invalid value rejects the whole set with
//! 400 and nothing changes. Accepted values are stored first, then put in force without a
//! restart. Secrets (devicePassword, wireless passwords, keys) are never logged.

use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::ErrorCode;
use crate::protocol::devinfo::{DeviceIdentity, is_secret};
use crate::protocol::messages::{PollReq, SetDevInfoCommand, SetDevInfoResult, UploadDevInfo};
use crate::protocol::services::Service;

/// Polls for new device parameters.
pub fn poll_set(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    let req = PollReq::new(SetDevInfoCommand::REQ_TYPE, s.device_no(), s.version());
    let cmd: SetDevInfoCommand = s.exchange(Service::SetDevInfo.path(), &req)?;
    if cmd.is_online_set_dev_info.trim() != "1" {
        return Ok(Outcome::Idle);
    }
    let current = s.shared.params();
    let (code, msg, param) = match current.apply(&cmd.params) {
        Ok(applied) => {
            let changed: Vec<&String> = applied.changed.iter().collect();
            match s.store.save_params(&applied.params.stored_changes(&cmd.params)) {
                Ok(()) => {
                    log::info!(
                        "setDevInfo {}: {} parameter(s) applied: {}",
                        cmd.msg_id,
                        changed.len(),
                        changed.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                    );
                    if !applied.ignored.is_empty() {
                        log::info!("setDevInfo {}: unknown keys ignored: {}", cmd.msg_id, applied.ignored.join(", "));
                    }
                    s.shared.set_params(applied.params);
                    let ok = ErrorCode::Ok;
                    let list = changed.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",");
                    (ok, ok.prompt().to_string(), list)
                }
                Err(e) => (ErrorCode::Failed, format!("cannot store the parameters: {e}"), String::new()),
            }
        }
        Err(errors) => {
            let why = errors.to_string();
            log::warn!("setDevInfo {} rejected, nothing applied: {why}", cmd.msg_id);
            let code = ErrorCode::DeviceParamsInvalid;
            (code, format!("{}: {why}", code.prompt()), String::new())
        }
    };
    let result = SetDevInfoResult::new(&cmd.msg_id, s.device_no(), code.code(), &msg, &param);
    s.report(Service::SetDevInfo.path(), &result)?;
    Ok(Outcome::Command)
}

/// Sends the full parameter set once (getDevInfoService on): stored values, defaults otherwise.
pub fn upload(s: &mut Session<'_>) {
    let cfg = s.cfg().device.clone();
    let identity = DeviceIdentity {
        device_no: cfg.device_no.clone(),
        hardware_version: cfg.hardware_version.clone(),
        software_version: cfg.software_version.clone(),
        alg_version: cfg.alg_version.clone(),
    };
    let params = s.shared.params();
    let msg = UploadDevInfo::new(&cfg.device_no, &cfg.protocol_version, params.to_upload(&identity));
    match s.post_raw(Service::UploadDevInfo.path(), &msg) {
        Ok(_) => log::info!("device parameters uploaded"),
        Err(e) => log::warn!("uploadDevInfo failed: {e}"),
    }
    let _ = is_secret;
}
