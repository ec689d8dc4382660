//! The command line, as `shared/CLI.md` names it.

use chancery_owner::config::{parse_jurisdiction, Location};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Chancery: a data embassy. Encrypted, deduplicated, signed snapshots kept at sites abroad.
#[derive(Parser, Debug)]
#[command(name = "chancery", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "CHANCERY_CONFIG", default_value = "chancery.toml")]
    pub config: PathBuf,
    /// Read the password from this file (first line) instead of CHANCERY_PASSWORD or a prompt.
    #[arg(long, global = true, env = "CHANCERY_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Print JSON on stdout (listing and status commands).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the config file and the owner's keys, protected by the password.
    Init(InitArgs),
    /// Print the owner's public key (to hand to site operators).
    OwnerKey,
    /// Manage sites.
    #[command(subcommand)]
    Site(SiteCommand),
    /// The placement policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Make a new snapshot, stored at every site.
    Backup(BackupArgs),
    /// List snapshots and the sites that hold each.
    Snapshots,
    /// List a snapshot's files.
    Ls(LsArgs),
    /// Restore a snapshot, verifying every object.
    Restore(RestoreArgs),
    /// Check the structure and integrity of each site.
    Check(CheckArgs),
    /// Proof of storage: have a site prove random ranges of random packs (exit 10 on a failure).
    Audit(AuditArgs),
    /// A site server's signed audit log of every request for this tenant, checked (exit 10 on
    /// a gap, an altered record, or a log shorter than this machine saw).
    AuditLog(AuditLogArgs),
    /// Per site: reachable, latest snapshot, lag; the recovery point achieved.
    Status,
    /// Bring lagging sites up to date from the others.
    Sync(SyncArgs),
    /// Passwords that open the owner's keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// On a new machine: rebuild the owner's config, keys and ledger from one site.
    Recover(RecoverArgs),
    /// Custodians' shares of a recovery secret that opens the archive without a password.
    #[command(subcommand)]
    Custody(CustodyCommand),
    /// Propose to forget snapshots by retention rules (with --prune, also the data only they
    /// use): governors approve, and each site server executes after the time lock.
    Forget(crate::cli_governance::ForgetArgs),
    /// Propose to delete the packs and index files no snapshot uses.
    Prune(crate::cli_governance::PruneArgs),
    /// Governance: proposals (list, approve, cancel), changes of terms and roles, governor keys.
    #[command(subcommand)]
    Governance(crate::cli_governance::GovernanceCommand),
    /// The ledger: every change to the archive, witnessed by the sites.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// The whole story on one machine: home, embassy sites, backup, attack, recovery.
    Demo(DemoArgs),
    /// Administer a site (run by the site's operator, not the owner).
    #[command(subcommand)]
    SiteAdmin(SiteAdminCommand),
    /// Run a site server.
    Serve(ServeArgs),
}

/// `init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// The owner's name (e.g. the state or agency).
    #[arg(long)]
    pub owner: String,
    /// Home data centre location, LAT,LON in degrees.
    #[arg(long, value_parser = parse_location, allow_hyphen_values = true)]
    pub home: Location,
    /// Home country, ISO 3166-1 alpha-2.
    #[arg(long, value_parser = parse_jurisdiction)]
    pub jurisdiction: String,
}

/// `site ...`.
#[derive(Subcommand, Debug)]
pub enum SiteCommand {
    /// Add a site that is a local directory.
    Add(Box<SiteAddArgs>),
    /// List sites with distances between every pair of storage locations.
    List,
}

/// `site add`.
#[derive(Args, Debug)]
pub struct SiteAddArgs {
    /// Site name (letters, digits, '-', '_').
    pub name: String,
    /// The site's folder (created if missing; must be empty or already this archive's).
    #[arg(long, required_unless_present = "url", conflicts_with = "url")]
    pub dir: Option<PathBuf>,
    /// A site server, `https://HOST:PORT`.
    #[arg(long, requires = "site_key")]
    pub url: Option<String>,
    /// The site server's key (64 hex, printed by `site-admin init`), pinned.
    #[arg(long, requires = "url")]
    pub site_key: Option<String>,
    /// Our tenant name at the site server (default: the owner's name, in lower case).
    #[arg(long, requires = "url")]
    pub tenant: Option<String>,
    /// Location of the site's storage, LAT,LON.
    #[arg(long, value_parser = parse_location, allow_hyphen_values = true)]
    pub location: Location,
    /// The site's country, ISO 3166-1 alpha-2.
    #[arg(long, value_parser = parse_jurisdiction)]
    pub jurisdiction: String,
    /// Data-centre tier (0 = unknown).
    #[arg(long, default_value_t = 0)]
    pub tier: u8,
    /// Seconds a backup waits for this site before leaving it behind as lagging.
    #[arg(long, default_value_t = chancery_owner::config::DEFAULT_UPLOAD_TIMEOUT_SECS)]
    pub upload_timeout: u64,
    /// Limit uploads to this site to an average of KiB/s (parallel uploads share it).
    #[arg(long, value_name = "KIB_PER_S", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit_upload: Option<u64>,
    /// Limit downloads from this site to an average of KiB/s.
    #[arg(long, value_name = "KIB_PER_S", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit_download: Option<u64>,
}

/// `policy ...`.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Check the placement policy before any data moves (exit 11 when violated).
    Check,
}

/// `backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and folders to back up.
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    pub paths: Vec<PathBuf>,
    /// Back up standard input as one file.
    #[arg(long, requires = "stdin_name")]
    pub stdin: bool,
    /// The file name for --stdin.
    #[arg(long)]
    pub stdin_name: Option<String>,
    /// Tag the snapshot (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

/// `ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// `latest` or a snapshot id prefix (>= 8 hex digits).
    pub snapshot: String,
}

/// `restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// `latest` or a snapshot id prefix (>= 8 hex digits).
    pub snapshot: String,
    /// Folder to restore into.
    #[arg(long)]
    pub target: PathBuf,
    /// Read from this site first.
    #[arg(long)]
    pub site: Option<String>,
    /// Restore only this path of the snapshot.
    #[arg(long)]
    pub include: Option<PathBuf>,
}

/// `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Check only this site.
    #[arg(long)]
    pub site: Option<String>,
    /// Read every pack and verify every blob.
    #[arg(long, conflicts_with = "read_data_subset")]
    pub read_data: bool,
    /// Read this percentage of packs, chosen at random.
    #[arg(long, value_parser = parse_percent)]
    pub read_data_subset: Option<f64>,
}

/// `audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The site to audit.
    #[arg(long)]
    pub site: String,
    /// Packs to sample, each once (a number, or `all`); every pack when at least their number.
    #[arg(long, value_name = "N", default_value = "300", value_parser = parse_sample)]
    pub sample: usize,
    /// The percentage of lost packs to give the detection probability for.
    #[arg(long, value_name = "PCT", default_value_t = 1.0, value_parser = parse_percent)]
    pub assume_lost: f64,
}

/// `audit-log`.
#[derive(Args, Debug)]
pub struct AuditLogArgs {
    /// The site server whose log to read.
    #[arg(long)]
    pub site: String,
    /// Show records from this record number, or this RFC 3339 time (2026-01-02T03:04:05Z).
    #[arg(long, value_name = "T")]
    pub since: Option<chancery_owner::audit_log::Since>,
    /// Read and check the whole log from its first record (not only from the record this
    /// machine saw last).
    #[arg(long)]
    pub verify: bool,
}

/// `sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Bring only this site up to date.
    #[arg(long)]
    pub site: Option<String>,
}

/// `recover`.
#[derive(Args, Debug)]
pub struct RecoverArgs {
    /// The site's folder (a local-directory site, or a copy of a site server's tenant folder).
    #[arg(long, required_unless_present = "url")]
    pub dir: Option<PathBuf>,
    /// A site server, `https://HOST:PORT`: the password's recovery key (registered there by
    /// `key add`, `site add`, `backup` and `sync`) reads what recovery needs.
    #[arg(long, conflicts_with = "dir", requires_all = ["site_key", "tenant"])]
    pub url: Option<String>,
    /// The site server's key (64 hex digits), pinned.
    #[arg(long)]
    pub site_key: Option<String>,
    /// Our tenant name at the site server.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Which configured site the folder or server is, when its path, key or tenant changed.
    #[arg(long)]
    pub site: Option<String>,
    /// A custodian's share file; give at least the threshold of them instead of the password.
    #[arg(long = "share", value_name = "FILE")]
    pub shares: Vec<PathBuf>,
    /// An age identity file that decrypts age-encrypted share files (env CHANCERY_IDENTITY).
    #[arg(long, env = "CHANCERY_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

/// `custody ...`.
#[derive(Subcommand, Debug)]
pub enum CustodyCommand {
    /// Splits a new recovery secret into N share files, any K of which open the archive; the
    /// shares of the previous split stop working.
    Split(CustodySplitArgs),
    /// When the archive was split, into how many shares, the threshold, the generation, and
    /// which sites hold the custody key file.
    Status,
}

/// `custody split`.
#[derive(Args, Debug)]
pub struct CustodySplitArgs {
    /// Shares to make (N), at most 255.
    #[arg(long)]
    pub shares: u8,
    /// Shares needed to recover (K), at least 2.
    #[arg(long)]
    pub threshold: u8,
    /// Folder for the share files and their QR codes.
    #[arg(long)]
    pub out: PathBuf,
    /// Encrypts share i to the i-th custodian's age X25519 key (`age1...`, or a file holding
    /// it); give none, or one per share.
    #[arg(long = "age-recipient", value_name = "FILE_OR_KEY")]
    pub age_recipients: Vec<String>,
}

/// `ledger ...`.
#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// The ledger's entries, and the checkpoint each site shows with its cosignature.
    Show(LedgerArgs),
    /// Checks every site's copy of the ledger against the trusted one and the snapshots it
    /// holds against the ledger; exit 10 naming the site when one was tampered with.
    Verify(LedgerArgs),
}

/// `ledger show|verify`.
#[derive(Args, Debug)]
pub struct LedgerArgs {
    /// Only this site.
    #[arg(long)]
    pub site: Option<String>,
}

/// `key ...`.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Add a password (prompted, or from --new-password-file or CHANCERY_NEW_PASSWORD).
    Add(KeyAddArgs),
    /// List key files.
    List,
    /// Remove a key file, locally and at every site.
    Remove(KeyRemoveArgs),
    /// A new master key for new data: old snapshots stay readable; the password in use keeps
    /// a key file with every generation, other passwords must be added again.
    Rotate,
}

/// `key add`.
#[derive(Args, Debug)]
pub struct KeyAddArgs {
    /// File holding the new password.
    #[arg(long)]
    pub new_password_file: Option<PathBuf>,
    /// A label for the new key (who holds the password).
    #[arg(long, default_value = "")]
    pub label: String,
}

/// `key remove`.
#[derive(Args, Debug)]
pub struct KeyRemoveArgs {
    /// Key id prefix.
    pub id: String,
}

/// `site-admin ...`.
#[derive(Subcommand, Debug)]
pub enum SiteAdminCommand {
    /// Create the site's identity; prints the site key that owners pin.
    Init(SiteAdminInitArgs),
    /// Admit an owner (tenant) by its public key (`chancery owner-key`).
    Enroll(SiteAdminEnrollArgs),
    /// Re-hash every stored object and report the corrupt ones (no keys needed).
    Scrub(SiteAdminScrubArgs),
}

/// `site-admin init`.
#[derive(Args, Debug)]
pub struct SiteAdminInitArgs {
    /// The site's data folder.
    #[arg(long)]
    pub data: PathBuf,
    /// The site's name.
    #[arg(long)]
    pub name: String,
    /// Where its storage is, LAT,LON.
    #[arg(long, value_parser = parse_location, allow_hyphen_values = true)]
    pub location: Location,
    /// Its country, ISO 3166-1 alpha-2.
    #[arg(long, value_parser = parse_jurisdiction)]
    pub jurisdiction: String,
    /// Data-centre tier.
    #[arg(long, default_value_t = 0)]
    pub tier: u8,
    #[command(flatten)]
    pub s3: S3StorageArgs,
}

/// Where a site stores its tenants' objects when that is an S3-compatible bucket (Garage, Ceph
/// RGW, MinIO, AWS) instead of folders under `--data`.
#[derive(Args, Debug)]
pub struct S3StorageArgs {
    /// Store in this S3 endpoint, e.g. http://127.0.0.1:3900. The secret access key is read
    /// from CHANCERY_S3_SECRET_ACCESS_KEY and kept in DATA/s3.secret (mode 0600).
    #[arg(long, requires_all = ["s3_bucket", "s3_access_key_id"])]
    pub s3_endpoint: Option<String>,
    /// The bucket (it must exist).
    #[arg(long, requires = "s3_endpoint")]
    pub s3_bucket: Option<String>,
    /// The bucket's region.
    #[arg(long, default_value = "garage", requires = "s3_endpoint")]
    pub s3_region: String,
    /// A key prefix inside the bucket, so that several sites can share it.
    #[arg(long, default_value = "", requires = "s3_endpoint")]
    pub s3_prefix: String,
    /// The access key id.
    #[arg(long, requires = "s3_endpoint")]
    pub s3_access_key_id: Option<String>,
    /// The secret access key (best given through the environment, not the command line).
    #[arg(long, env = "CHANCERY_S3_SECRET_ACCESS_KEY", hide_env_values = true, hide = true)]
    pub s3_secret_access_key: Option<String>,
}

/// `site-admin enroll`.
#[derive(Args, Debug)]
pub struct SiteAdminEnrollArgs {
    /// The site's data folder.
    #[arg(long)]
    pub data: PathBuf,
    /// The tenant's name at this site.
    #[arg(long)]
    pub tenant: String,
    /// The owner's public key (64 hex).
    #[arg(long)]
    pub owner_key: String,
    /// The owner key's roles, comma-separated (default: writer,reader,auditor). The roles are
    /// writer, reader, governor and auditor.
    #[arg(long, value_parser = parse_roles)]
    pub owner_roles: Option<chancery_site::Roles>,
    /// Another key of the owner with its roles, as KEY=ROLE[,ROLE...] (e.g. a governor's key);
    /// repeatable.
    #[arg(long, value_parser = parse_key_roles)]
    pub key: Vec<KeyRoles>,
    /// Storage quota in bytes (default: none).
    #[arg(long)]
    pub quota: Option<u64>,
    /// Governor approvals a proposal needs (m of n; default: a majority of the governors).
    #[arg(long)]
    pub quorum: Option<u32>,
    /// Time between a proposal's quorum and its execution, during which any governor can
    /// cancel (default 72h).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub time_lock: Option<std::time::Duration>,
    /// No object younger than this is ever deleted, whatever the signatures (default 30d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub retention_floor: Option<std::time::Duration>,
}

/// `--key KEY=ROLES`.
#[derive(Clone, Debug)]
pub struct KeyRoles {
    /// The public key, 64 hex digits.
    pub key: String,
    /// Its roles.
    pub roles: chancery_site::Roles,
}

fn parse_roles(list: &str) -> Result<chancery_site::Roles, String> {
    chancery_site::parse_roles(list)
}

pub(crate) fn parse_key_roles(text: &str) -> Result<KeyRoles, String> {
    let (key, roles) = text.split_once('=').ok_or("give KEY=ROLE[,ROLE...]")?;
    Ok(KeyRoles { key: key.trim().to_string(), roles: parse_roles(roles)? })
}

/// `site-admin scrub`.
#[derive(Args, Debug)]
pub struct SiteAdminScrubArgs {
    /// The site's data folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The site's data folder (made by `site-admin init`).
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on, e.g. 0.0.0.0:8443 or 127.0.0.1:0.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: String,
}

/// `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the demo's folders here instead of a temporary folder that is removed afterwards.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

fn parse_location(s: &str) -> Result<Location, String> {
    s.parse()
}

fn parse_sample(s: &str) -> Result<usize, String> {
    match s {
        "all" => Ok(usize::MAX),
        _ => s
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{s:?} is not a positive number or `all`")),
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim_end_matches('%').parse().map_err(|_| format!("{s:?} is not a percentage"))?;
    if v > 0.0 && v <= 100.0 {
        Ok(v)
    } else {
        Err("the percentage must be above 0 and at most 100".into())
    }
}
