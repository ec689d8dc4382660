//! Share files on disk: `share-<generation>-<n>.txt` (or `.age`, the age armor of that text when
//! the share is encrypted to its custodian) and `share-<generation>-<n>.png`, a QR code of the
//! file's text, to print and keep with it.

use anyhow::{bail, Context, Result};
use chancery_format::custody::{Manifest, ShareFile, ShareRecord};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Marks an age-encrypted share (ASCII armor).
const AGE_ARMOR_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
/// Pixels per QR module, and modules of quiet zone around the code.
const QR_SCALE: usize = 4;
const QR_QUIET: usize = 4;

/// Writes every share file and its QR code; returns the share files' paths.
pub(super) fn write_shares(
    out: &Path,
    records: &[ShareRecord],
    manifest_bytes: &[u8],
    recipients: &[age::x25519::Recipient],
    manifest: &Manifest,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut paths = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let file = ShareFile { record: record.clone(), manifest: Some(manifest_bytes.to_vec()) };
        let mut text = file.render(&about(record, manifest));
        let mut ext = "txt";
        if let Some(recipient) = recipients.get(i) {
            text = age::encrypt_and_armor(recipient, text.as_bytes()).context("encrypting a share")?;
            ext = "age";
        }
        let base = format!("share-{}-{}", record.generation, record.x);
        let path = out.join(format!("{base}.{ext}"));
        write_new(&path, text.as_bytes())?;
        write_new(&out.join(format!("{base}.png")), &qr_png(&text)?)?;
        paths.push(path);
    }
    Ok(paths)
}

/// The comment lines a custodian reads at the top of a share file.
fn about(record: &ShareRecord, manifest: &Manifest) -> Vec<String> {
    vec![
        format!(
            "share {} of {}: any {} of these shares open the archive; keep it apart from the others",
            record.x,
            manifest.shares(),
            manifest.threshold
        ),
        format!("archive {}, custody generation {}", hex::encode(&manifest.repo_id[..8]), record.generation),
        "to type it back, the 32 words after \"words\" are enough".into(),
    ]
}

/// Refuses to overwrite: an existing share file may be the only copy of a custodian's share.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {} (share files are never overwritten)", path.display()))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).with_context(|| format!("writing {}", path.display()))
}

/// A black-on-white grayscale PNG of the QR code of `text`.
fn qr_png(text: &str) -> Result<Vec<u8>> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .context("the share is too long for a QR code")?;
    let modules = code.width();
    let side = (modules + 2 * QR_QUIET) * QR_SCALE;
    let dark = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (i, color) in dark.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % modules + QR_QUIET, i / modules + QR_QUIET);
            for dy in 0..QR_SCALE {
                let row = (my * QR_SCALE + dy) * side + mx * QR_SCALE;
                pixels[row..row + QR_SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let side32 = u32::try_from(side).context("QR code too large")?;
    let mut encoder = png::Encoder::new(&mut out, side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("encoding the QR code")?;
    writer.write_image_data(&pixels).context("encoding the QR code")?;
    writer.finish().context("encoding the QR code")?;
    Ok(out)
}

/// A share as given to recovery: where it came from (to name it) and its parsed content, or
/// why it could not be read.
#[derive(Debug)]
pub struct ShareInput {
    /// The file's path, as given.
    pub name: String,
    /// The share, or what is wrong with the file.
    pub parsed: Result<ShareFile, chancery_format::custody::ShareError>,
}

/// Reads a share file, decrypting it with one of `identities` when it is age armor. A file
/// that cannot be read or decrypted is an error; one that reads but does not parse is named
/// in [`ShareInput::parsed`], so that recovery can go on with the others.
pub fn read_share_file(path: &Path, identities: &[Box<dyn age::Identity>]) -> Result<ShareInput> {
    let bytes = std::fs::read(path).with_context(|| format!("reading share file {}", path.display()))?;
    let text = if String::from_utf8_lossy(&bytes).trim_start().starts_with(AGE_ARMOR_BEGIN) {
        decrypt(path, &bytes, identities)?
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(ShareInput { name: path.display().to_string(), parsed: ShareFile::parse(&text) })
}

fn decrypt(path: &Path, bytes: &[u8], identities: &[Box<dyn age::Identity>]) -> Result<String> {
    if identities.is_empty() {
        bail!(
            "share file {} is encrypted with age: give its custodian's identity with --identity FILE \
             (or CHANCERY_IDENTITY), or decrypt it first with `age -d`",
            path.display()
        );
    }
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(bytes))
        .with_context(|| format!("share file {} is not valid age armor", path.display()))?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .with_context(|| format!("none of the given identities decrypts share file {}", path.display()))?;
    let mut text = String::new();
    reader.read_to_string(&mut text).with_context(|| format!("decrypting share file {}", path.display()))?;
    Ok(text)
}

/// Reads age identities (`AGE-SECRET-KEY-1...` lines) from a file.
pub fn read_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity>>> {
    let file = age::IdentityFile::from_file(path.display().to_string())
        .with_context(|| format!("reading age identity file {}", path.display()))?;
    file.into_identities().with_context(|| format!("age identity file {}", path.display()))
}

/// An age X25519 recipient: `age1...` itself, or a file whose first such line is taken.
pub fn parse_recipient(arg: &str) -> Result<age::x25519::Recipient> {
    if let Ok(recipient) = arg.trim().parse() {
        return Ok(recipient);
    }
    let text = std::fs::read_to_string(arg)
        .with_context(|| format!("--age-recipient {arg}: neither an age1... key nor a readable file"))?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("age1"))
        .and_then(|l| l.parse().ok())
        .with_context(|| format!("{arg} holds no age1... recipient"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_png_is_a_png() {
        let png = qr_png("chancery custody share v1\nwords\n").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
