//! `device/update`: firmware download, verification and installation.
//!
//! The download runs on its own thread so the other services keep their schedule; a second
//! update command while one runs is answered 507. Codes follow the spec's table 3.2 and its
//! example (500 下载中 downloading, 501 升级中 upgrading), with the msg text sent alongside so a
//! cloud that reads the update table's reversed codes can still tell. A partial or unverified
//! file is never installed, and the download is removed whatever the outcome.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::clock::now_ms;
use crate::cloud::download::{self, DownloadError, DownloadLimits};
use crate::cloud::{Outcome, PollError, Session};
use crate::protocol::{Command, ErrorCode, Service, UpdateCommand};
use crate::store::Store;

static RUNNING: AtomicBool = AtomicBool::new(false);
static STALE_REMOVED: std::sync::Once = std::sync::Once::new();

/// Name of the download under `<storage>/update`.
const DOWNLOAD_NAME: &str = "firmware.download";

/// State key holding the rollback plan of a freshly installed agent binary.
pub const TRIAL_KEY: &str = "update_trial";

/// Polls for an update command and starts it on its own thread.
pub(crate) fn poll(s: &mut Session<'_>) -> Result<Outcome, PollError> {
    // A download cut short by a power loss or a kill would otherwise sit on the flash until
    // the next update; no update of this process can be running before its first poll.
    STALE_REMOVED.call_once(|| remove_stale_download(&s.cfg().storage.dir));
    let cmd: UpdateCommand = s.poll(Service::Update)?;
    if !cmd.requested() {
        return Ok(Outcome::Idle);
    }
    if RUNNING.swap(true, Ordering::SeqCst) {
        log::warn!("update {} refused: another update is running", cmd.msg_id);
        report(s, &cmd, ErrorCode::FirmwareAlreadyUpgrading, "")?;
        return Ok(Outcome::Command);
    }
    let handles = s.handles.clone();
    let transport = s.transport.clone();
    let msg_id = cmd.msg_id.clone();
    let spawned = std::thread::Builder::new().name("update".into()).spawn(move || {
        let store = match Store::open(&handles.cfg.storage.dir) {
            Ok(st) => st,
            Err(e) => {
                log::error!("update thread cannot open the store: {e}");
                RUNNING.store(false, Ordering::SeqCst);
                return;
            }
        };
        let mut session = Session::new(&handles, &transport, store);
        let restart = run(&mut session, &cmd);
        RUNNING.store(false, Ordering::SeqCst);
        if restart {
            log::info!("new agent installed: exiting so the service manager starts it");
            handles.restart();
        }
    });
    if let Err(e) = spawned {
        RUNNING.store(false, Ordering::SeqCst);
        log::error!("cannot start the update thread: {e}");
    }
    s.note_command(&msg_id);
    Ok(Outcome::Command)
}

/// Removes what an interrupted earlier process left under `<storage>/update`.
pub fn remove_stale_download(storage_dir: &Path) {
    let file = storage_dir.join("update").join(DOWNLOAD_NAME);
    match std::fs::remove_file(&file) {
        Ok(()) => log::info!("removed the incomplete download {} of an interrupted update", file.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot remove the stale download {}: {e}", file.display()),
    }
}

/// Reports a progress or final code; the msg always starts with the code's own prompt
/// (下载中 / 升级中 ...) so a cloud that reads 500/501 the other way round can still tell.
fn report(s: &mut Session<'_>, cmd: &UpdateCommand, code: ErrorCode, detail: &str) -> Result<(), PollError> {
    let msg = if detail.is_empty() { code.prompt().to_string() } else { format!("{}: {detail}", code.prompt()) };
    s.finish(Service::Update, cmd, code, &msg).map(|_| ())
}

/// Carries out one update; true when the agent must restart into a new binary.
fn run(s: &mut Session<'_>, cmd: &UpdateCommand) -> bool {
    let dir = s.cfg().storage.dir.join("update");
    let file = dir.join(DOWNLOAD_NAME);
    let outcome = fetch_verify_install(s, cmd, &dir, &file);
    // Leftovers go whatever happened: a partial or rejected file must not linger.
    remove_logged(&file, "the downloaded firmware");
    let (code, detail, restart) = match outcome {
        Ok(restart) => (ErrorCode::Ok, String::new(), restart),
        Err((code, detail)) => {
            log::warn!("update {} failed: {} {detail}", cmd.msg_id, code.code());
            (code, detail, false)
        }
    };
    if let Err(e) = report(s, cmd, code, &detail) {
        log::warn!("update result not reported: {e}");
    }
    restart
}

fn fetch_verify_install(
    s: &mut Session<'_>,
    cmd: &UpdateCommand,
    dir: &Path,
    file: &Path,
) -> Result<bool, (ErrorCode, String)> {
    let update_type = cmd.update_type.trim().to_string();
    if !["0", "1", "3"].contains(&update_type.as_str()) {
        return Err((ErrorCode::FirmwareLocalUpgradeFailed, format!("unknown updateType {update_type:?}")));
    }
    // The spec's own example URL has spaces inside it; a URL never does.
    let url: String = cmd.update_url.chars().filter(|c| !c.is_whitespace()).collect();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err((ErrorCode::FirmwareDownloadFailed, format!("updateUrl {url:?} is not http(s)")));
    }
    let expected_len: Option<u64> = match cmd.update_key.trim() {
        "" => None,
        k => Some(
            k.parse()
                .map_err(|_| (ErrorCode::FirmwareLengthCheckFailed, format!("updateKey {k:?} is not a file length")))?,
        ),
    };
    // No key and no allow_unsigned: nothing could be installed, so nothing is downloaded.
    let cfg_dir = s.cfg().path.parent().map(Path::to_path_buf);
    crate::firmware::refuse_before_download(&s.cfg().update, cfg_dir.as_deref())
        .map_err(|why| (ErrorCode::FirmwareHashCheckFailed, why))?;
    std::fs::create_dir_all(dir).map_err(|e| (ErrorCode::FirmwareDownloadFailed, e.to_string()))?;
    progress(s, cmd, ErrorCode::FirmwareDownloading);
    log::info!("update {}: downloading {url}", cmd.msg_id);
    let cfg = s.cfg().clone();
    let limits = DownloadLimits {
        max_bytes: cfg.update.max_bytes,
        retries: cfg.update.download_retries,
        retry_initial_ms: cfg.cloud.retry_initial_ms,
        retry_max_ms: cfg.cloud.retry_max_ms,
        reserve_bytes: cfg.storage.reserve_bytes,
    };
    let handles = s.handles;
    let got =
        download::download(s.transport, &url, file, limits, &|d| handles.lifecycle.sleep(d)).map_err(|e| match e {
            DownloadError::Interrupted => (ErrorCode::FirmwareDownloadFailed, "interrupted by shutdown".to_string()),
            other => (ErrorCode::FirmwareDownloadFailed, other.to_string()),
        })?;
    log::info!("update {}: {} bytes downloaded ({} resumes)", cmd.msg_id, got.bytes, got.resumes);
    if let Some(len) = expected_len {
        if len != got.bytes {
            return Err((
                ErrorCode::FirmwareLengthCheckFailed,
                format!("got {} bytes, updateKey says {len}", got.bytes),
            ));
        }
    }
    let wanted_hash = cfg.update.sha256.trim().to_lowercase();
    if !wanted_hash.is_empty() {
        let have = sha256_file(file).map_err(|e| (ErrorCode::FirmwareHashCheckFailed, e))?;
        if have != wanted_hash {
            return Err((ErrorCode::FirmwareHashCheckFailed, format!("sha256 {have}, expected {wanted_hash}")));
        }
    }
    // Signature, payload hash and version, then the trailer is cut off: no installer ever
    // sees an unverified file (src/firmware). The agent's floor is its own version.
    let agent = (update_type == "1" && cfg.update.install_application.is_empty()).then(|| agent_target(s)).flatten();
    let running = match agent {
        Some(_) => Some(crate::firmware::agent_version()),
        None => crate::firmware::installed_version(&s.store, &update_type),
    };
    let admitted = crate::firmware::admit(file, &cfg.update, cfg_dir.as_deref(), running.as_ref())
        .map_err(|why| (ErrorCode::FirmwareHashCheckFailed, why))?;
    progress(s, cmd, ErrorCode::FirmwareUpgrading);
    log::info!("update {}: installing updateType {update_type}", cmd.msg_id);
    if let Some(target) = agent {
        return install_agent(s, file, &target).map(|()| true);
    }
    let mut system = handles.system.lock().unwrap_or_else(|e| e.into_inner());
    system.install(&update_type, file).map_err(|e| (ErrorCode::FirmwareLocalUpgradeFailed, e.to_string()))?;
    drop(system);
    crate::firmware::record_installed(&mut s.store, &update_type, &admitted);
    Ok(false)
}

/// Where the built-in installer puts a new agent: `[update] agent_path`, or this binary on a
/// real board. The sim board never replaces a binary unless a path is configured.
fn agent_target(s: &Session<'_>) -> Option<PathBuf> {
    if !s.cfg().update.agent_path.as_os_str().is_empty() {
        return Some(s.cfg().update.agent_path.clone());
    }
    if s.handles.board_is_sim {
        return None;
    }
    std::env::current_exe().ok()
}

/// Installs a new agent binary: beside the old one, fsynced, checked by running it, then
/// renamed into place with the previous one kept; the new agent must register within
/// `rollback_timeout_s` after its start or it is rolled back.
fn install_agent(s: &mut Session<'_>, file: &Path, target: &Path) -> Result<(), (ErrorCode, String)> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |e: String| (ErrorCode::FirmwareLocalUpgradeFailed, e);
    let dir = target.parent().ok_or_else(|| fail(format!("{} has no directory", target.display())))?;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("facegate");
    let new = dir.join(format!(".{name}.new"));
    let prev = dir.join(format!("{name}.prev"));
    std::fs::copy(file, &new).map_err(|e| fail(format!("cannot write {}: {e}", new.display())))?;
    let synced = std::fs::File::open(&new).and_then(|f| {
        f.set_permissions(std::fs::Permissions::from_mode(0o755))?;
        f.sync_all()
    });
    if let Err(e) = synced {
        remove_logged(&new, "the unsynced new agent");
        return Err(fail(format!("cannot sync {}: {e}", new.display())));
    }
    // The start-up check: the new binary must run and register with the cloud in time.
    let timeout = Duration::from_secs(s.cfg().update.rollback_timeout_s);
    if let Err(e) = startup_check(&new, &s.cfg().path, timeout) {
        remove_logged(&new, "the rejected new agent");
        log::warn!("new agent failed its start-up check, keeping the running one: {e}");
        return Err((ErrorCode::FirmwareVersionCheckFailed, format!("start-up check failed: {e}")));
    }
    if target.exists() {
        std::fs::rename(target, &prev).map_err(|e| fail(format!("cannot keep the previous agent: {e}")))?;
    }
    if let Err(e) = std::fs::rename(&new, target) {
        if let Err(back) = std::fs::rename(&prev, target) {
            log::error!("cannot put the previous agent {} back in place: {back}", prev.display());
        }
        return Err(fail(format!("cannot put the new agent in place: {e}")));
    }
    // The renames are durable once the directory is synced; a failure leaves them to the
    // file system's next commit, which the trial plan below survives either way.
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        log::warn!("cannot sync {}: {e}", dir.display());
    }
    let plan = serde_json::json!({
        "target": target,
        "prev": prev,
        "deadline_ms": now_ms() + timeout.as_millis() as i64,
    });
    if let Err(e) = s.store.set_state(TRIAL_KEY, &plan.to_string()) {
        // Without a plan nothing could roll back an agent that never registers: undo.
        remove_logged(target, "the new agent without a rollback plan");
        if prev.exists() {
            if let Err(back) = std::fs::rename(&prev, target) {
                log::error!("cannot put the previous agent {} back in place: {back}", prev.display());
            }
        }
        return Err(fail(format!("cannot record the rollback plan, previous agent kept: {e}")));
    }
    let mut system = s.handles.system.lock().unwrap_or_else(|e| e.into_inner());
    // The agent is already in place and on trial; the board's hook only follows it (the sim
    // board logs it), so its failure is worth a line, not a failed update.
    if let Err(e) = system.install("1", target) {
        log::warn!("the board's install hook for the new agent failed: {e}");
    }
    Ok(())
}

/// Runs `new selftest --config CFG`, which registers with the cloud once.
fn startup_check(new: &Path, config: &Path, timeout: Duration) -> Result<(), String> {
    let mut child = std::process::Command::new(new)
        .arg("selftest")
        .arg("--config")
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", new.display()))?;
    // Drained while the check runs: a chatty child must not block on a full pipe and be
    // mistaken for one that cannot register.
    let stderr = child.stderr.take().map(|pipe| std::thread::spawn(move || stderr_tail(pipe)));
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}: {}", collected(stderr).trim())),
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not register within {} s", timeout.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// What the stderr reader collected. A grandchild may still hold the pipe open, so the wait
/// is short: the update thread must not hang on it.
fn collected(reader: Option<std::thread::JoinHandle<String>>) -> String {
    let Some(reader) = reader else {
        return String::new();
    };
    let end = std::time::Instant::now() + Duration::from_secs(1);
    while !reader.is_finished() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    if reader.is_finished() { reader.join().unwrap_or_default() } else { String::new() }
}

/// The last 2 KiB a child wrote to `pipe`, read until it closes.
fn stderr_tail(mut pipe: impl Read) -> String {
    const KEEP: usize = 2048;
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * KEEP {
                    kept.drain(..kept.len() - KEEP);
                }
            }
        }
    }
    let start = kept.len().saturating_sub(KEEP);
    String::from_utf8_lossy(&kept[start..]).into_owned()
}

/// At start: if a new agent is on trial past its deadline without registering, put the
/// previous binary back and ask for a restart. Returns true when it rolled back.
pub fn rollback_if_overdue(store: &mut Store) -> bool {
    let Ok(Some(plan)) = store.state(TRIAL_KEY) else {
        return false;
    };
    let Ok(plan) = serde_json::from_str::<serde_json::Value>(&plan) else {
        end_trial(store);
        return false;
    };
    let deadline = plan["deadline_ms"].as_i64().unwrap_or(0);
    if now_ms() <= deadline {
        return false;
    }
    let (Some(target), Some(prev)) = (plan["target"].as_str(), plan["prev"].as_str()) else {
        return false;
    };
    log::error!("the new agent did not register in time: rolling back to {prev}");
    let ok = match std::fs::rename(prev, target) {
        Ok(()) => true,
        Err(e) => {
            log::error!("cannot put the previous agent {prev} back in place: {e}");
            false
        }
    };
    end_trial(store);
    ok
}

/// After a successful registration: the agent on trial is confirmed.
pub fn confirm_trial(store: &mut Store) {
    if let Ok(Some(plan)) = store.state(TRIAL_KEY) {
        if !plan.is_empty() {
            log::info!("new agent registered: update confirmed");
            end_trial(store);
        }
    }
}

/// Clears the trial plan; if it cannot be cleared, the next start sees it again.
fn end_trial(store: &mut Store) {
    if let Err(e) = store.set_state(TRIAL_KEY, "") {
        log::error!("cannot clear the update trial plan: {e}");
    }
}

/// Removes `path`, saying so when it could not (a file that is already gone is fine).
fn remove_logged(path: &Path, what: &str) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot remove {what} {}: {e}", path.display()),
    }
}

/// Sends a progress code (500 downloading, 501 upgrading); the final result follows anyway.
fn progress(s: &mut Session<'_>, cmd: &UpdateCommand, code: ErrorCode) {
    if let Err(e) = report(s, cmd, code, "") {
        log::warn!("update {}: progress {} not reported: {e}", cmd.msg_id, code.code());
    }
}

fn sha256_file(path: &Path) -> Result<String, String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
