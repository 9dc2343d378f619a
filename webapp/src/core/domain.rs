//! Domain types. Each newtype is parsed once at the edge (path, token, upload) and is valid from
//! then on, so the rest of the code never re-checks a string.

use std::fmt;
use std::str::FromStr;

use sha2::Digest;
use utoipa::ToSchema;

/// The id of a signed-in user: 1 to 128 characters of ASCII letters, digits, `-`, `_` and `.`
/// (not starting with `.`). Safe as a path segment and as an S3 key segment; a Cognito `sub`
/// (a UUID) fits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UserId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if s.is_empty() || s.len() > 128 || s.starts_with('.') || !s.chars().all(valid_char) {
            return Err(format!(
                "`{s}` is not a valid user id: use 1 to 128 letters, digits, `-`, `_` or `.`"
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image's id: a ULID, so ids sort by upload time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageId(ulid::Ulid);

impl ImageId {
    /// A fresh id for an upload happening now.
    pub fn generate() -> Self {
        Self(ulid::Ulid::new())
    }
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(ulid::Ulid::from_bytes(bytes))
    }
}

impl FromStr for ImageId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(s)
            .map(Self)
            .map_err(|_| format!("`{s}` is not a valid image id"))
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A SHA-256 digest, shown as 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    pub fn of(bytes: &[u8]) -> Self {
        Self(sha2::Sha256::digest(bytes).into())
    }
}

impl FromStr for Sha256 {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("`{s}` is not a SHA-256 hex digest");
        if s.len() != 64 {
            return Err(err());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| err())?;
        }
        Ok(Self(out))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The body of an upload: not empty and no larger than the configured limit. Only the
/// streaming reader in `http::upload` creates one, while it counts bytes.
#[derive(Debug, Clone)]
pub struct UploadBytes(Vec<u8>);

impl UploadBytes {
    /// `None` when `bytes` is empty; the caller has already enforced the size limit.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (!bytes.is_empty()).then_some(Self(bytes))
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

/// The two keys of an image in the blob store. The layout is the AWS one
/// (`infra/README_infra.md`): `originals/<user>/<image>` and `thumbnails/<user>/<image>.jpg`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn original(user: &UserId, image: ImageId) -> Self {
        Self(format!("originals/{user}/{image}"))
    }
    pub fn thumbnail(user: &UserId, image: ImageId) -> Self {
        Self(format!("thumbnails/{user}/{image}.jpg"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The owner and image of the key (keys are only ever built from both).
    pub fn image(&self) -> (UserId, ImageId) {
        let (_, user, image) = key_parts(&self.0).expect("a BlobKey has one of the two shapes");
        (user, image)
    }
}

/// Whether `key` is an original, its user and its image; `None` for any other shape.
fn key_parts(key: &str) -> Option<(bool, UserId, ImageId)> {
    let mut parts = key.split('/');
    let (Some(kind), Some(user), Some(name), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let user: UserId = user.parse().ok()?;
    let (original, image) = match kind {
        "originals" => (true, name),
        "thumbnails" => (false, name.strip_suffix(".jpg")?),
        _ => return None,
    };
    Some((original, user, image.parse().ok()?))
}

impl FromStr for BlobKey {
    type Err = String;

    /// Accepts exactly the two shapes above, so a key taken from a URL cannot name any other
    /// file.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (original, user, image) =
            key_parts(s).ok_or_else(|| format!("`{s}` is not a blob key"))?;
        Ok(if original {
            Self::original(&user, image)
        } else {
            Self::thumbnail(&user, image)
        })
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an image's captioning stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageStatus {
    Pending,
    Done,
    Failed,
}

impl ImageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

impl FromStr for ImageStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "done" => Ok(Self::Done),
            "failed" => Ok(Self::Failed),
            other => Err(format!("unknown image status `{other}`")),
        }
    }
}

/// A caption and the model's confidence in it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, ToSchema)]
pub struct ScoredCaption {
    pub text: String,
    /// Mean token log-probability (at most 0); `null` when the provider reports none (Bedrock,
    /// the Hugging Face API).
    pub confidence: Option<f32>,
}

/// A label Rekognition found in the image.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ToSchema)]
pub struct ImageLabel {
    pub name: String,
    /// Percent, 0 to 100.
    pub confidence: f32,
}

/// What a successful caption job stores.
#[derive(Debug, Clone, PartialEq, serde::Serialize, ToSchema)]
pub struct CaptionResult {
    /// At most ten words.
    pub concise: ScoredCaption,
    /// One or two sentences.
    pub creative: ScoredCaption,
    /// The model that answered.
    pub model: String,
    /// The captioner chain entry that answered: `embedded`, `endpoint`, `sagemaker`, `bedrock`
    /// or `hf`.
    pub provider: String,
    /// Time spent in the provider that answered, in milliseconds.
    pub latency_ms: u64,
    /// Labels detected before captioning, most confident first; empty when labels are off or
    /// could not be detected.
    pub labels: Vec<ImageLabel>,
}

/// The user's own wording of the captions, kept beside the model's text. A caption the user
/// did not correct is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionEdits {
    pub concise: Option<String>,
    pub creative: Option<String>,
    /// When the user last changed a caption.
    pub edited_ms: i64,
}

/// One uploaded image and its captioning state.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    pub user: UserId,
    pub id: ImageId,
    pub sha256: Sha256,
    pub status: ImageStatus,
    /// `image/jpeg` or `image/png`, sniffed from the bytes.
    pub content_type: &'static str,
    /// Size of the stored (metadata-stripped) original.
    pub size_bytes: u64,
    /// Upright dimensions (EXIF orientation applied).
    pub width: u32,
    pub height: u32,
    /// The EXIF orientation of the upload (1 to 8); the stored original no longer carries it.
    pub orientation: u8,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// When retention removes the image (epoch seconds).
    pub expires_at: i64,
    pub result: Option<CaptionResult>,
    /// The user's corrections; kept when the image is captioned again (a model never
    /// overwrites what a person wrote: `core::provenance`).
    pub edits: Option<CaptionEdits>,
    pub failure_reason: Option<String>,
    /// Caption versions, review mark and waiting suggestions.
    pub provenance: crate::core::provenance::Provenance,
}

impl ImageRecord {
    pub fn original_key(&self) -> BlobKey {
        BlobKey::original(&self.user, self.id)
    }
    pub fn thumbnail_key(&self) -> BlobKey {
        BlobKey::thumbnail(&self.user, self.id)
    }
    /// The original's file name in downloads and exports: the id and the type's extension.
    pub fn file_name(&self) -> String {
        let extension = if self.content_type == "image/png" {
            "png"
        } else {
            "jpg"
        };
        format!("{}.{extension}", self.id)
    }
    /// The width and height of the stored original's pixels: the upright ones, swapped when
    /// the upload's EXIF orientation turned the picture a quarter (5 to 8), which the stored
    /// original no longer says.
    pub fn stored_dimensions(&self) -> (u32, u32) {
        if (5..=8).contains(&self.orientation) {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// The stored form of a record's content type: one of the two accepted image types.
pub fn image_content_type(stored: &str) -> Option<&'static str> {
    match stored {
        "image/jpeg" => Some("image/jpeg"),
        "image/png" => Some("image/png"),
        _ => None,
    }
}

/// Who is calling, as the authenticator established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: UserId,
    pub admin: bool,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_safe_path_segments() {
        assert!("3f2a-9b_c.d".parse::<UserId>().is_ok());
        for bad in ["", "..", ".hidden", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(bad.parse::<UserId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cognito_subs_are_user_ids_and_name_their_blob_folders() {
        // Cognito's `sub` is a UUID; the S3 key contract (infra/README_infra.md) uses it as is.
        let sub = "7c4e1a2b-93d5-4f6a-8b0c-1d2e3f405162";
        let user: UserId = sub.parse().unwrap();
        assert_eq!(user.as_str(), sub);
        let key = BlobKey::original(&user, ImageId::generate());
        assert!(key.as_str().starts_with(&format!("originals/{sub}/")));
        assert_eq!(key.as_str().parse::<BlobKey>().unwrap(), key);
    }

    #[test]
    fn blob_keys_parse_only_the_two_layouts() {
        let user: UserId = "u1".parse().unwrap();
        let id = ImageId::generate();
        for key in [BlobKey::original(&user, id), BlobKey::thumbnail(&user, id)] {
            assert_eq!(key.as_str().parse::<BlobKey>().unwrap(), key);
            assert_eq!(key.image(), (user.clone(), id));
        }
        for bad in [
            "originals/u1".to_string(),
            format!("originals/../{id}"),
            format!("thumbnails/u1/{id}"),
            format!("other/u1/{id}"),
            format!("originals/u1/{id}/x"),
        ] {
            assert!(bad.parse::<BlobKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sha256_round_trips_through_hex() {
        let digest = Sha256::of(b"abc");
        assert_eq!(
            digest.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(digest.to_string().parse::<Sha256>().unwrap(), digest);
        assert!("zz".parse::<Sha256>().is_err());
    }

    #[test]
    fn empty_uploads_do_not_exist() {
        assert!(UploadBytes::new(vec![]).is_none());
        assert_eq!(UploadBytes::new(vec![1]).unwrap().as_slice(), &[1]);
    }
}
