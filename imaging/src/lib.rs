//! Image handling without a model: untrusted JPEG or PNG bytes in, checked and upright pixels,
//! stored originals and thumbnails out. No candle; both servers and the models crate use it.
//!
//! - [`sniff_format`]: JPEG or PNG from the magic bytes, never from a declared type.
//! - [`read_header`], [`decode_image`], [`decode_image_with_header`]: dimensions checked against
//!   [`ImageLimits`] before any pixel buffer exists, colour profiles and text measured without
//!   inflating them past their cap, EXIF orientation applied, alpha flattened onto white.
//! - [`budget`]: the process-wide memory budget every decode reserves from.
//! - [`resize_bicubic`]: Pillow's `Image.resize(size, BICUBIC)`, byte for byte.
//! - [`strip`]: stored originals keep only what the image needs (allow-list).
//! - [`thumbnail`]: the thumbnail size rule and its JPEG.
//! - [`xmp`]: captions written into an original's XMP (alt text, description) and read back.
//! - [`hostile`]: crafted amplifying images for tests and benchmarks.
//!
//! Every failure is an [`ImageError`], always the uploader's fault (a 4xx).

pub mod budget;
mod container;
mod decode;
mod error;
mod header;
pub mod hostile;
mod resize;
pub mod strip;
pub mod thumbnail;
pub mod xmp;

pub use decode::{
    decode_image, decode_image_with_header, sniff_format, DecodedImage, ImageFormatKind,
    ImageLimits,
};
pub use error::ImageError;
pub use header::{read_header, IccProfile, ImageHeader, MAX_ICC_PROFILE_BYTES};
pub use resize::resize_bicubic;
