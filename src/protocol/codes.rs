//! The spec's error codes (chapter 三, tables 3.1 and 3.2), carried as `errorCode` strings.
//!
//! 500 is "downloading" and 501 "upgrading" as in table 3.2 and the update example; the update
//! result table swaps them (protocol.md §3.9.1), the example and table 3.2 agree, so 3.2 wins.

/// One `errorCode` of the spec, with its code text and the spec's Chinese prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 100: operation correct (success).
    Ok,
    /// 200: general operation error.
    Failed,
    /// 201: the cloud rejected the registration.
    RegisterError,
    /// 202: the cloud rejected a token.
    TokenError,
    /// 203: message type unknown.
    UnknownMsgType,
    /// 1000: unknown error.
    Unknown,
    /// 300: person registration parameters invalid.
    PersonParamsInvalid,
    /// 301: no face features could be extracted from the photo.
    FaceFeatureFailed,
    /// 302: the face registry is full.
    FaceCapacityFull,
    /// 303: the photo could not be decoded.
    ImageDecodeFailed,
    /// 304: face registration timed out.
    FaceRegisterTimeout,
    /// 700: persons are being extracted (person/info in progress).
    ExtractingPersons,
    /// 701: person extraction timed out.
    PersonExtractTimeout,
    /// 400: device parameters invalid.
    DeviceParamsInvalid,
    /// 401: reading the device information timed out.
    GetDevInfoTimeout,
    /// 402: setting the device information timed out.
    SetDevInfoTimeout,
    /// 500: firmware downloading.
    FirmwareDownloading,
    /// 501: firmware upgrading.
    FirmwareUpgrading,
    /// 502: firmware download failed.
    FirmwareDownloadFailed,
    /// 503: firmware length check failed.
    FirmwareLengthCheckFailed,
    /// 504: firmware hash check failed.
    FirmwareHashCheckFailed,
    /// 505: firmware version check failed.
    FirmwareVersionCheckFailed,
    /// 506: local firmware upgrade failed.
    FirmwareLocalUpgradeFailed,
    /// 507: a firmware upgrade is already running.
    FirmwareAlreadyUpgrading,
    /// 600: taking the photo timed out.
    PhotoTimeout,
    /// 601: no face was detected for the photo.
    NoFaceDetected,
    /// 800: records are being extracted (face/get in progress).
    ExtractingRecords,
    /// 801: record extraction timed out.
    RecordExtractTimeout,
}

impl ErrorCode {
    /// Every code, in the spec's order.
    pub const ALL: [ErrorCode; 28] = [
        ErrorCode::Ok,
        ErrorCode::Failed,
        ErrorCode::RegisterError,
        ErrorCode::TokenError,
        ErrorCode::UnknownMsgType,
        ErrorCode::Unknown,
        ErrorCode::PersonParamsInvalid,
        ErrorCode::FaceFeatureFailed,
        ErrorCode::FaceCapacityFull,
        ErrorCode::ImageDecodeFailed,
        ErrorCode::FaceRegisterTimeout,
        ErrorCode::ExtractingPersons,
        ErrorCode::PersonExtractTimeout,
        ErrorCode::DeviceParamsInvalid,
        ErrorCode::GetDevInfoTimeout,
        ErrorCode::SetDevInfoTimeout,
        ErrorCode::FirmwareDownloading,
        ErrorCode::FirmwareUpgrading,
        ErrorCode::FirmwareDownloadFailed,
        ErrorCode::FirmwareLengthCheckFailed,
        ErrorCode::FirmwareHashCheckFailed,
        ErrorCode::FirmwareVersionCheckFailed,
        ErrorCode::FirmwareLocalUpgradeFailed,
        ErrorCode::FirmwareAlreadyUpgrading,
        ErrorCode::PhotoTimeout,
        ErrorCode::NoFaceDetected,
        ErrorCode::ExtractingRecords,
        ErrorCode::RecordExtractTimeout,
    ];

    /// The code as sent in `errorCode`, e.g. "100".
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::Ok => "100",
            ErrorCode::Failed => "200",
            ErrorCode::RegisterError => "201",
            ErrorCode::TokenError => "202",
            ErrorCode::UnknownMsgType => "203",
            ErrorCode::Unknown => "1000",
            ErrorCode::PersonParamsInvalid => "300",
            ErrorCode::FaceFeatureFailed => "301",
            ErrorCode::FaceCapacityFull => "302",
            ErrorCode::ImageDecodeFailed => "303",
            ErrorCode::FaceRegisterTimeout => "304",
            ErrorCode::ExtractingPersons => "700",
            ErrorCode::PersonExtractTimeout => "701",
            ErrorCode::DeviceParamsInvalid => "400",
            ErrorCode::GetDevInfoTimeout => "401",
            ErrorCode::SetDevInfoTimeout => "402",
            ErrorCode::FirmwareDownloading => "500",
            ErrorCode::FirmwareUpgrading => "501",
            ErrorCode::FirmwareDownloadFailed => "502",
            ErrorCode::FirmwareLengthCheckFailed => "503",
            ErrorCode::FirmwareHashCheckFailed => "504",
            ErrorCode::FirmwareVersionCheckFailed => "505",
            ErrorCode::FirmwareLocalUpgradeFailed => "506",
            ErrorCode::FirmwareAlreadyUpgrading => "507",
            ErrorCode::PhotoTimeout => "600",
            ErrorCode::NoFaceDetected => "601",
            ErrorCode::ExtractingRecords => "800",
            ErrorCode::RecordExtractTimeout => "801",
        }
    }

    /// The spec's prompt text (提示信息) for the code, as printed in tables 3.1 and 3.2.
    pub fn prompt(self) -> &'static str {
        match self {
            ErrorCode::Ok => "操作正确",
            ErrorCode::Failed => "操作错误",
            ErrorCode::RegisterError => "注册错误",
            ErrorCode::TokenError => "token校验错误",
            ErrorCode::UnknownMsgType => "消息类型未知",
            ErrorCode::Unknown => "未知错误",
            ErrorCode::PersonParamsInvalid => "人员信息参数非法",
            ErrorCode::FaceFeatureFailed => "人脸特征提取失败,请更换图片",
            ErrorCode::FaceCapacityFull => "人脸注册数目已满",
            ErrorCode::ImageDecodeFailed => "图片解码失败，请更换图片",
            ErrorCode::FaceRegisterTimeout => "人脸注册超时",
            ErrorCode::ExtractingPersons => "正在提取人员",
            ErrorCode::PersonExtractTimeout => "提取人员超时",
            ErrorCode::DeviceParamsInvalid => "设备参数非法",
            ErrorCode::GetDevInfoTimeout => "获取设备信息超时",
            ErrorCode::SetDevInfoTimeout => "设置设备信息超时",
            ErrorCode::FirmwareDownloading => "下载中",
            ErrorCode::FirmwareUpgrading => "升级中",
            ErrorCode::FirmwareDownloadFailed => "固件下载失败",
            ErrorCode::FirmwareLengthCheckFailed => "固件长度校验失败",
            ErrorCode::FirmwareHashCheckFailed => "固件哈希值校验失败",
            ErrorCode::FirmwareVersionCheckFailed => "固件版本校验失败",
            ErrorCode::FirmwareLocalUpgradeFailed => "固件本地升级失败",
            ErrorCode::FirmwareAlreadyUpgrading => "固件已经在升级中",
            ErrorCode::PhotoTimeout => "设备拍照超时,请重新拍照",
            ErrorCode::NoFaceDetected => "设备未检测到人脸,请重新拍照",
            ErrorCode::ExtractingRecords => "正在提取记录",
            ErrorCode::RecordExtractTimeout => "提取记录超时",
        }
    }

    /// The code for an `errorCode` text (surrounding spaces ignored); `None` if the spec does
    /// not define it.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        let code = code.trim();
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// True for 100, the only success code.
    pub fn is_success(self) -> bool {
        self == ErrorCode::Ok
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code(), self.prompt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_code_is_present_once() {
        let expected = [
            "100", "200", "201", "202", "203", "1000", "300", "301", "302", "303", "304", "700", "701", "400", "401",
            "402", "500", "501", "502", "503", "504", "505", "506", "507", "600", "601", "800", "801",
        ];
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, expected);
        for code in expected {
            assert_eq!(ErrorCode::from_code(code).map(|c| c.code()), Some(code));
        }
    }

    #[test]
    fn prompts_follow_table_3_2() {
        assert_eq!(ErrorCode::FirmwareDownloading.code(), "500");
        assert_eq!(ErrorCode::FirmwareDownloading.prompt(), "下载中");
        assert_eq!(ErrorCode::FirmwareUpgrading.code(), "501");
        assert_eq!(ErrorCode::FirmwareUpgrading.prompt(), "升级中");
        assert_eq!(ErrorCode::Ok.prompt(), "操作正确");
        assert_eq!(ErrorCode::TokenError.prompt(), "token校验错误");
        assert_eq!(ErrorCode::ImageDecodeFailed.prompt(), "图片解码失败，请更换图片");
        assert_eq!(ErrorCode::NoFaceDetected.prompt(), "设备未检测到人脸,请重新拍照");
        assert!(ErrorCode::ALL.iter().all(|c| !c.prompt().is_empty()));
    }

    #[test]
    fn unknown_codes_are_none() {
        assert_eq!(ErrorCode::from_code(" 100 "), Some(ErrorCode::Ok));
        assert_eq!(ErrorCode::from_code("999"), None);
        assert_eq!(ErrorCode::from_code(""), None);
        assert!(ErrorCode::Ok.is_success());
        assert!(!ErrorCode::Failed.is_success());
        assert_eq!(ErrorCode::Failed.to_string(), "200 (操作错误)");
    }
}
