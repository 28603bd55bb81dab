//! Records the git commit the binary is built from (`umsgate_build_info{commit}`); a build
//! outside a git checkout (a source tarball, a vendored crate) says "unknown".

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=UMSGATE_GIT_COMMIT={commit}");
    // Every commit (and checkout) in this checkout appends to its HEAD log; in a worktree
    // that lives under the git dir, not `.git/`.
    let git_dir = std::process::Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok());
    if let Some(dir) = git_dir {
        let head_log = std::path::Path::new(dir.trim()).join("logs/HEAD");
        if head_log.exists() {
            println!("cargo:rerun-if-changed={}", head_log.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
