//! The data directory's permissions: it holds the server's secret key (the `meta` column
//! family: the HMAC key behind every secure code, coupon code, approval code and bill
//! challenge), so only the user running kassa should be able to enter it.
//!
//! RocksDB writes its files with the process's umask (usually `0644`): the directory's own mode
//! is what keeps them private. [`create_private_dir`] creates a missing directory (and missing
//! parents) `0700`; `Engine::open` uses it. [`check_private_dir`] refuses a directory that group
//! or others may read, write or enter, naming the command that fixes it, as PostgreSQL does for
//! its data directory and ssh for `~/.ssh`; `kassa serve` checks before it opens the engine (an
//! embedding application decides for itself). kassa never changes an existing directory's mode:
//! that is the operator's decision.

use std::path::Path;

/// The bits of a directory's mode that give group or others any access.
const GROUP_OTHER_BITS: u32 = 0o077;

/// Creates `dir`, and its missing parents, with mode `0700` (an existing directory is left as it
/// is). `Err` is a message for the operator.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    create(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))
}

#[cfg(unix)]
fn create(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Checks that group and others have no access to `dir` (its mode, symbolic links followed,
/// has none of the bits `0o077`). `Err` is a message for the operator, naming the fix.
#[cfg(unix)]
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(dir).map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
    if !metadata.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(format!(
            "the data directory {dir} has mode {mode:04o}: group or others may access it, and it holds the \
             server's secret key. Restrict it to its owner with `chmod 700 {dir}`, then start again",
            dir = dir.display()
        ));
    }
    Ok(())
}

/// Unix permissions only: elsewhere nothing is checked.
#[cfg(not(unix))]
pub fn check_private_dir(_dir: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(dir: &Path) -> u32 {
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_directory_is_created_private_with_its_parents() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("parent").join("data");
        create_private_dir(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&root.path().join("parent"))), (0o700, 0o700));
        check_private_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o750, "an existing directory is left as it is");
    }

    #[test]
    fn a_directory_open_to_group_or_others_is_refused_with_the_fix() {
        let root = tempfile::tempdir().unwrap();
        for open in [0o755, 0o750, 0o701, 0o770, 0o702] {
            std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(open)).unwrap();
            let error = check_private_dir(root.path()).unwrap_err();
            assert!(error.contains(&format!("chmod 700 {}", root.path().display())), "{error}");
            assert!(error.contains(&format!("{open:04o}")), "{error}");
            assert_eq!(mode(root.path()), open, "the mode is left to the operator");
        }
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        check_private_dir(root.path()).unwrap();
    }
}
