//! `scenario run --report DIR` on a failing scenario: the page as a
//! browser shows it (headless Chromium: the failing line, the topology's
//! nodes, the place the probe stopped), the captures read back with the
//! probe's token in them, and JUnit naming both. A trial that needs a
//! program this machine lacks (chromium) is reported as ignored with the
//! reason, never as passed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

/// A ping the host drops by its FORWARD policy: the request leaves bird
/// (with its token) and stops at host.
const FAILING: &str = r#"// A ping the host's FORWARD policy drops.
let host = node("host");
let isp = node("isp");
link(host, "up0", isp, "eth0");
host.addr("up0", "198.51.100.5/24");
isp.addr("eth0", "198.51.100.1/24");
host.bridge("br0", "172.29.0.1/24");
let bird = container("bird");
bird.attach(host, "br0", "172.29.0.2/24");
host.sysctl("net.ipv4.ip_forward", "1");
host.exec("iptables -P FORWARD DROP");
probe_timeout(0.3);
assert_ping(bird, "198.51.100.1");
"#;

struct Ran {
    dir: PathBuf,
    page: String,
    junit: String,
}

/// One run for every trial: the scenario, the report and JUnit.
static RAN: OnceLock<Result<Ran, String>> = OnceLock::new();

fn ran() -> Result<&'static Ran, Failed> {
    RAN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("scenario-report-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("dropped.rhai"), FAILING).map_err(|e| e.to_string())?;
        let out = Command::new(env!("CARGO_BIN_EXE_scenario"))
            .current_dir(&dir)
            .args([
                "run",
                "--report",
                "out",
                "--junit",
                "junit.xml",
                "dropped.rhai",
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.code() != Some(1) {
            return Err(format!(
                "expected exit 1, got {:?}\n{}{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        Ok(Ran {
            page: read(&dir.join("out/index.html"))?,
            junit: read(&dir.join("junit.xml"))?,
            dir,
        })
    })
    .as_ref()
    .map_err(|e| e.clone().into())
}

fn capture_file(r: &Ran) -> PathBuf {
    r.dir.join("out/dropped/probe-line-13.pcapng")
}

/// The token the page names, as 32 hex digits.
fn token(page: &str) -> Result<Vec<u8>, Failed> {
    let at = page
        .find("<code class=\"token\">")
        .ok_or("the page names no token")?;
    let hex = &page[at + 20..at + 52];
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{hex}: {e}").into())
}

fn the_captures_hold_the_token_under_node_interface_names() -> Result<(), Failed> {
    let r = ran()?;
    let token = token(&r.page)?;
    let frames = scenario::report::read_back(&capture_file(r))?;
    let with: Vec<&str> = frames
        .iter()
        .filter(|(_, data)| data.windows(16).any(|w| w == token.as_slice()))
        .map(|(iface, _)| iface.as_str())
        .collect();
    for iface in ["bird:eth0", "host:br0"] {
        if !with.contains(&iface) {
            return Err(format!("the token is not in a frame of {iface}: {with:?}").into());
        }
    }
    if with.contains(&"isp:eth0") {
        return Err("the token reached isp, past the host that dropped it".into());
    }
    // Wireshark's own reading, where tshark is installed.
    if which("tshark") {
        let filter: Vec<String> = token.iter().map(|b| format!("{b:02x}")).collect();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(capture_file(r))
            .args(["-Y", &format!("frame contains {}", filter.join(":"))])
            .args(["-T", "fields", "-e", "frame.interface_name"])
            .output()?;
        let names = String::from_utf8_lossy(&out.stdout);
        if !names.lines().any(|l| l == "bird:eth0") {
            return Err(format!("tshark finds the token on no bird:eth0 frame: {names}").into());
        }
    }
    Ok(())
}

fn junit_attaches_the_page_and_the_captures() -> Result<(), Failed> {
    let r = ran()?;
    for want in [
        "[[ATTACHMENT|out/index.html]]",
        "[[ATTACHMENT|out/dropped/probe-line-13.pcapng]]",
    ] {
        if !r.junit.contains(want) {
            return Err(format!("JUnit lacks {want}:\n{}", r.junit).into());
        }
    }
    if r.page.contains('\u{1b}') {
        return Err("the page holds terminal colour codes".into());
    }
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Runs headless Chromium with a profile of its own, ended by its PID if
/// it outlives `limit`.
fn chromium(args: &[String], limit: Duration) -> Result<Vec<u8>, Failed> {
    let profile = tempdir("chromium-profile")?;
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).map(|_| out)
    });
    let start = Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > limit {
            child.kill()?;
            child.wait()?;
            return Err(format!("chromium took longer than {limit:?}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = reader.join().map_err(|_| "reader panicked")??;
    let _ = std::fs::remove_dir_all(profile);
    Ok(out)
}

fn tempdir(what: &str) -> Result<PathBuf, Failed> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("scenario-{what}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn the_page_in_chromium_shows_the_line_the_nodes_and_the_stop() -> Result<(), Failed> {
    let r = ran()?;
    let url = format!("file://{}", r.dir.join("out/index.html").display());
    let dom = chromium(&["--dump-dom".into(), url.clone()], Duration::from_secs(60))?;
    let dom = String::from_utf8_lossy(&dom);
    let wants = [
        ("the failing line", "dropped.rhai:13"),
        ("the line of code", "assert_ping(bird, \"198.51.100.1\");"),
        ("bird's box", "data-node=\"bird\""),
        ("host's box", "data-node=\"host\""),
        ("isp's box", "data-node=\"isp\""),
        ("the stop at host", "data-stop=\"host\""),
        ("the first hop", "data-hop=\"request 1 bird eth0\""),
        ("the verdict", "FORWARD policy DROP"),
    ];
    for (what, text) in wants {
        if !dom.contains(text) {
            return Err(format!("Chromium's page lacks {what} ({text})").into());
        }
    }
    // What a person sees: the picture drawn, the stop marked in red.
    let shot = tempdir("screenshot")?.join("page.png");
    chromium(
        &[
            "--window-size=1280,2400".into(),
            format!("--screenshot={}", shot.display()),
            url,
        ],
        Duration::from_secs(60),
    )?;
    // Only the picture (and the legend's small swatches) use these two
    // colours: without the drawing, a few dozen pixels would have them.
    let counted = colours(&shot);
    if let Some(dir) = shot.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
    let (request, stop) = counted?;
    if request < 400 || stop < 400 {
        return Err(format!(
            "the screenshot shows {request} pixels of the request's blue and {stop} of the stop's red"
        )
        .into());
    }
    Ok(())
}

/// Pixels of the request's blue and of the stop's red in a screenshot.
fn colours(png_file: &Path) -> Result<(usize, usize), Failed> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_file)?));
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("no size")?];
    let info = reader.next_frame(&mut buf)?;
    let step = info.color_type.samples();
    let px = buf[..info.buffer_size()].chunks(step);
    let (mut request, mut stop) = (0, 0);
    for p in px {
        match (p[0], p[1], p[2]) {
            (0x25, 0x63, 0xeb) => request += 1,
            (0xe1, 0x1d, 0x48) => stop += 1,
            _ => {}
        }
    }
    Ok((request, stop))
}

fn main() {
    let args = Arguments::from_args();
    let browser = "the_page_in_chromium_shows_the_line_the_nodes_and_the_stop";
    let browser = if which("chromium") {
        Trial::test(
            browser,
            the_page_in_chromium_shows_the_line_the_nodes_and_the_stop,
        )
    } else {
        // Neither passed nor failed: ignored, with the reason.
        eprintln!(
            "note: {browser} is ignored: chromium is not installed (bash ci/install-packages.sh)"
        );
        Trial::test(browser, || Ok(())).with_ignored_flag(true)
    };
    let trials = vec![
        browser,
        Trial::test(
            "the_captures_hold_the_token_under_node_interface_names",
            the_captures_hold_the_token_under_node_interface_names,
        ),
        Trial::test(
            "junit_attaches_the_page_and_the_captures",
            junit_attaches_the_page_and_the_captures,
        ),
    ];
    let conclusion = libtest_mimic::run(&args, trials);
    // The run's page and captures, shared by the trials, go with them.
    if let Some(Ok(ran)) = RAN.get() {
        let _ = std::fs::remove_dir_all(&ran.dir);
    }
    conclusion.exit();
}
