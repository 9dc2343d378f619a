//! Captions written into an image file's own metadata, as XMP, without re-encoding a pixel:
//! the concise caption as the IPTC alt text (`Iptc4xmpCore:AltTextAccessibility`), the creative
//! one as the description (`dc:description`), both language alternatives with an `x-default`
//! entry, which is where photo tools, CMSs and screen-reader-aware publishing tools look. The
//! EXIF orientation the stored original no longer carries can go along as `tiff:Orientation`.
//!
//! JPEG: one APP1 segment `http://ns.adobe.com/xap/1.0/\0` + packet, right after SOI and the
//! APP0 segments (JFIF must stay first); PNG: one `iTXt` chunk with keyword `XML:com.adobe.xmp`
//! (uncompressed, as the XMP specification asks) before the first `IDAT`. An XMP packet the file
//! had is replaced (in a JPEG, its extended-XMP segments too: they belong to the old packet).
//! Every other segment and chunk, the entropy-coded data and the `IDAT` chunks are copied byte
//! for byte; bytes after EOI / IEND are left out, as [`crate::strip`] does.
//!
//! [`read_xmp`] reads the three properties back from such a file with a real XML tokenizer and
//! namespace resolution (any prefixes), for the tests of both crates and for tools.

use std::collections::HashMap;

use crate::container::{jpeg_parts, png_chunk, png_chunks, APP0, APP1, PNG_SIGNATURE, SOI};
use crate::{ImageError, ImageFormatKind};

/// What goes into (or came out of) an image's XMP packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmpCaptions {
    /// `Iptc4xmpCore:AltTextAccessibility` (`x-default`): the concise caption.
    pub alt_text: Option<String>,
    /// `dc:description` (`x-default`): the creative caption.
    pub description: Option<String>,
    /// `tiff:Orientation`, the EXIF orientation (1 to 8); not written when `None` or 1.
    pub orientation: Option<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum XmpError {
    /// A JPEG segment's length field is 16 bits: a packet larger than this cannot be one
    /// segment (extended XMP, split over several, is not written).
    #[error("the XMP packet is {bytes} bytes; a JPEG holds at most {max} in one segment")]
    TooLarge { bytes: usize, max: usize },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("the XMP packet cannot be read: {0}")]
    Malformed(String),
}

/// The largest packet written into a JPEG: what fits an APP1 segment (65,535 bytes with the
/// length field) after the 29-byte namespace header, with the XMP specification's margin.
pub const MAX_JPEG_PACKET_BYTES: usize = 65_502;

const JPEG_XMP_SIGNATURE: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const JPEG_EXTENDED_XMP_SIGNATURE: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
/// Keyword, NUL, compression flag 0 (uncompressed), method 0, empty language tag and empty
/// translated keyword, each NUL-terminated.
const PNG_XMP_HEADER: &[u8] = b"XML:com.adobe.xmp\0\0\0\0\0";
const PNG_XMP_KEYWORD: &[u8] = b"XML:com.adobe.xmp\0";

const NS_RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const NS_DC: &str = "http://purl.org/dc/elements/1.1/";
const NS_IPTC_CORE: &str = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/";
const NS_TIFF: &str = "http://ns.adobe.com/tiff/1.0/";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// `bytes` (a JPEG or PNG) with `captions` as its XMP packet, the image data untouched.
pub fn embed_xmp(
    bytes: &[u8],
    format: ImageFormatKind,
    captions: &XmpCaptions,
) -> Result<Vec<u8>, XmpError> {
    let packet = xmp_packet(captions);
    match format {
        ImageFormatKind::Jpeg => embed_jpeg(bytes, packet.as_bytes()),
        ImageFormatKind::Png => embed_png(bytes, packet.as_bytes()),
    }
}

/// The captions in the file's XMP packet; `None` when it has none.
pub fn read_xmp(bytes: &[u8], format: ImageFormatKind) -> Result<Option<XmpCaptions>, XmpError> {
    let packet = match format {
        ImageFormatKind::Jpeg => jpeg_parts(bytes)?
            .into_iter()
            .find(|part| is_jpeg_xmp(part.code, part.payload, JPEG_XMP_SIGNATURE))
            .map(|part| &part.payload[JPEG_XMP_SIGNATURE.len()..]),
        ImageFormatKind::Png => match png_chunks(bytes)?
            .into_iter()
            .find(|chunk| is_png_xmp(chunk.kind, chunk.data))
        {
            // Compressed packets are not written here and are rare elsewhere.
            Some(chunk) if !chunk.data.starts_with(PNG_XMP_HEADER) => {
                return Err(XmpError::Malformed(
                    "the PNG's XMP is compressed or carries a language tag".into(),
                ))
            }
            Some(chunk) => Some(&chunk.data[PNG_XMP_HEADER.len()..]),
            None => None,
        },
    };
    packet
        .map(|packet| {
            let text = std::str::from_utf8(packet)
                .map_err(|_| XmpError::Malformed("the packet is not UTF-8".into()))?;
            parse_packet(text)
        })
        .transpose()
}

fn is_jpeg_xmp(code: Option<u8>, payload: &[u8], signature: &[u8]) -> bool {
    code == Some(APP1) && payload.starts_with(signature)
}

fn is_png_xmp(kind: &[u8], data: &[u8]) -> bool {
    kind == b"iTXt" && data.starts_with(PNG_XMP_KEYWORD)
}

fn embed_jpeg(bytes: &[u8], packet: &[u8]) -> Result<Vec<u8>, XmpError> {
    if packet.len() > MAX_JPEG_PACKET_BYTES {
        return Err(XmpError::TooLarge {
            bytes: packet.len(),
            max: MAX_JPEG_PACKET_BYTES,
        });
    }
    let parts = jpeg_parts(bytes)?;
    let length = u16::try_from(2 + JPEG_XMP_SIGNATURE.len() + packet.len())
        .expect("the packet was checked to fit a segment");
    let mut segment = vec![0xFF, APP1];
    segment.extend_from_slice(&length.to_be_bytes());
    segment.extend_from_slice(JPEG_XMP_SIGNATURE);
    segment.extend_from_slice(packet);

    let mut out = Vec::with_capacity(bytes.len() + segment.len());
    let mut segment = Some(segment);
    for part in parts {
        let old_xmp = is_jpeg_xmp(part.code, part.payload, JPEG_XMP_SIGNATURE)
            || is_jpeg_xmp(part.code, part.payload, JPEG_EXTENDED_XMP_SIGNATURE);
        if old_xmp {
            continue;
        }
        if !matches!(part.code, Some(SOI | APP0)) {
            if let Some(segment) = segment.take() {
                out.extend_from_slice(&segment);
            }
        }
        out.extend_from_slice(part.raw);
    }
    Ok(out)
}

fn embed_png(bytes: &[u8], packet: &[u8]) -> Result<Vec<u8>, XmpError> {
    let chunks = png_chunks(bytes)?;
    let mut chunk = Some(png_chunk(b"iTXt", &[PNG_XMP_HEADER, packet].concat()));
    let mut out = Vec::with_capacity(bytes.len() + packet.len() + 64);
    out.extend_from_slice(PNG_SIGNATURE);
    for old in chunks {
        if is_png_xmp(old.kind, old.data) {
            continue;
        }
        if old.kind == b"IDAT" || old.kind == b"IEND" {
            if let Some(chunk) = chunk.take() {
                out.extend_from_slice(&chunk);
            }
        }
        out.extend_from_slice(old.raw);
    }
    Ok(out)
}

/// Text as XML character data or attribute value. Characters XML 1.0 cannot carry at all
/// (C0 controls other than tab, line feed and carriage return; U+FFFE, U+FFFF) become U+FFFD;
/// a carriage return is written as a reference so parsers do not turn it into a line feed.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn lang_alt(property: &str, text: &str) -> String {
    format!(
        "   <{property}>\n    <rdf:Alt>\n     <rdf:li xml:lang=\"x-default\">{}</rdf:li>\n    \
         </rdf:Alt>\n   </{property}>\n",
        escape(text)
    )
}

/// The XMP packet (no padding: whoever changes it rewrites the file anyway).
fn xmp_packet(captions: &XmpCaptions) -> String {
    let mut properties = String::new();
    if let Some(text) = &captions.alt_text {
        properties.push_str(&lang_alt("Iptc4xmpCore:AltTextAccessibility", text));
    }
    if let Some(text) = &captions.description {
        properties.push_str(&lang_alt("dc:description", text));
    }
    if let Some(orientation) = captions.orientation.filter(|&o| o != 1) {
        properties.push_str(&format!(
            "   <tiff:Orientation>{orientation}</tiff:Orientation>\n"
        ));
    }
    format!(
        "<?xpacket begin=\"\u{FEFF}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
         <x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n \
         <rdf:RDF xmlns:rdf=\"{NS_RDF}\">\n  \
         <rdf:Description rdf:about=\"\"\n    xmlns:dc=\"{NS_DC}\"\n    \
         xmlns:Iptc4xmpCore=\"{NS_IPTC_CORE}\"\n    xmlns:tiff=\"{NS_TIFF}\">\n\
         {properties}  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n\
         <?xpacket end=\"w\"?>"
    )
}

/// The five predefined entities and character references.
fn unescape(raw: &str) -> Result<String, XmpError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..]
            .find(';')
            .ok_or_else(|| XmpError::Malformed("an unterminated entity reference".into()))?;
        let entity = &rest[amp + 1..amp + semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32)
                .ok_or_else(|| XmpError::Malformed(format!("unknown entity `&{entity};`")))?,
        };
        out.push(c);
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A start tag being read: the element's qualified name and its attributes (prefix, local
/// name, unescaped value).
struct StartTag {
    prefix: String,
    local: String,
    attributes: Vec<(String, String, String)>,
}

/// An element being read: its name resolved to a namespace, its namespace declarations, its
/// `xml:lang`, and the text read inside it so far.
struct Open {
    prefix: String,
    local: String,
    namespace: String,
    declared: HashMap<String, String>,
    lang: Option<String>,
    text: String,
}

fn resolve(stack: &[Open], declared: &HashMap<String, String>, prefix: &str) -> Option<String> {
    if prefix == "xml" {
        return Some(NS_XML.to_owned());
    }
    declared
        .get(prefix)
        .or_else(|| {
            stack
                .iter()
                .rev()
                .find_map(|open| open.declared.get(prefix))
        })
        .cloned()
}

fn parse_packet(text: &str) -> Result<XmpCaptions, XmpError> {
    let malformed = |e: xmlparser::Error| XmpError::Malformed(e.to_string());
    let mut found = XmpCaptions::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut starting: Option<StartTag> = None;
    for token in xmlparser::Tokenizer::from(text) {
        match token.map_err(malformed)? {
            xmlparser::Token::ElementStart { prefix, local, .. } => {
                starting = Some(StartTag {
                    prefix: prefix.to_string(),
                    local: local.to_string(),
                    attributes: Vec::new(),
                });
            }
            xmlparser::Token::Attribute {
                prefix,
                local,
                value,
                ..
            } => {
                if let Some(tag) = starting.as_mut() {
                    tag.attributes
                        .push((prefix.to_string(), local.to_string(), unescape(&value)?));
                }
            }
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open | xmlparser::ElementEnd::Empty => {
                    let tag = starting
                        .take()
                        .ok_or_else(|| XmpError::Malformed("a tag ends twice".into()))?;
                    let open = open_element(&stack, tag, &mut found)?;
                    stack.push(open);
                    if matches!(end, xmlparser::ElementEnd::Empty) {
                        close_element(&mut stack, &mut found);
                    }
                }
                xmlparser::ElementEnd::Close(prefix, local) => {
                    let top = stack.last().ok_or_else(|| {
                        XmpError::Malformed(format!("`</{local}>` closes nothing"))
                    })?;
                    if top.prefix != prefix.as_str() || top.local != local.as_str() {
                        return Err(XmpError::Malformed(format!(
                            "`</{local}>` closes `<{}>`",
                            top.local
                        )));
                    }
                    close_element(&mut stack, &mut found);
                }
            },
            xmlparser::Token::Text { text } => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&unescape(&text)?);
                }
            }
            xmlparser::Token::Cdata { text, .. } => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmpError::Malformed(format!(
            "`<{}>` is not closed",
            open.local
        )));
    }
    Ok(found)
}

fn open_element(stack: &[Open], tag: StartTag, found: &mut XmpCaptions) -> Result<Open, XmpError> {
    let StartTag {
        prefix,
        local,
        attributes,
    } = tag;
    let declared: HashMap<String, String> = attributes
        .iter()
        .filter_map(|(prefix, local, value)| match (prefix.as_str(), local) {
            ("xmlns", name) => Some((name.clone(), value.clone())),
            ("", name) if name == "xmlns" => Some((String::new(), value.clone())),
            _ => None,
        })
        .collect();
    let namespace = resolve(stack, &declared, &prefix)
        .ok_or_else(|| XmpError::Malformed(format!("the prefix `{prefix}` is not declared")))?;
    let mut lang = None;
    for (attr_prefix, attr_local, value) in &attributes {
        if attr_prefix.is_empty() || attr_prefix == "xmlns" {
            continue;
        }
        let attr_namespace = resolve(stack, &declared, attr_prefix).ok_or_else(|| {
            XmpError::Malformed(format!("the prefix `{attr_prefix}` is not declared"))
        })?;
        match (attr_namespace.as_str(), attr_local.as_str()) {
            (NS_XML, "lang") => lang = Some(value.clone()),
            // A simple property may be written as an attribute of rdf:Description.
            (NS_TIFF, "Orientation") => found.orientation = value.trim().parse().ok(),
            _ => {}
        }
    }
    Ok(Open {
        prefix,
        local,
        namespace,
        declared,
        lang,
        text: String::new(),
    })
}

fn close_element(stack: &mut Vec<Open>, found: &mut XmpCaptions) {
    let Some(open) = stack.pop() else { return };
    let name = (open.namespace.as_str(), open.local.as_str());
    if name == (NS_TIFF, "Orientation") {
        found.orientation = open.text.trim().parse().ok();
        return;
    }
    if name != (NS_RDF, "li") {
        return;
    }
    // rdf:li inside rdf:Alt inside the property: the x-default entry wins, else the first.
    let n = stack.len();
    if n < 2 || (stack[n - 1].namespace.as_str(), stack[n - 1].local.as_str()) != (NS_RDF, "Alt") {
        return;
    }
    let property = &stack[n - 2];
    let slot = match (property.namespace.as_str(), property.local.as_str()) {
        (NS_IPTC_CORE, "AltTextAccessibility") => &mut found.alt_text,
        (NS_DC, "description") => &mut found.description,
        _ => return,
    };
    if slot.is_none() || open.lang.as_deref() == Some("x-default") {
        *slot = Some(open.text);
    }
}

#[cfg(test)]
mod tests;
