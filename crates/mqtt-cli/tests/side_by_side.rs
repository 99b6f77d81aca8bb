//! The same invocation of `mosquitto_pub`/`mosquitto_sub`/`mosquitto_rr` 2.0.11 and of
//! `mqtt-pub`/`mqtt-sub`/`mqtt-rr`, against the same private Mosquitto broker and the same
//! published messages, must print the same stdout and exit with the same code; stderr is
//! compared too wherever Mosquitto's text is deterministic (with the tool names swapped).
//!
//! The table in [`cases`] holds the invocations. Cases that only read the broker's state (the
//! retained messages of [`RETAINED`], error paths) run both tools at once; cases that publish or
//! depend on timing run one tool after the other, each time with the same steps: wait for the
//! broker to log the tool's SUBACK (never a sleep), publish, collect. What other clients saw
//! (the request an `mqtt-rr` sent, the messages an `mqtt-pub` published, the retained messages
//! left behind, a will) is compared as well.
//!
//! Time-dependent output is avoided or normalised: the `"tst"` of `%j`/`%J` is blanked.
//!
//! Mosquitto must be installed: the test fails loudly otherwise (`test_support::tool`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use test_support::{free_port, tool, Mosquitto, TempDir};

/// How long one tool may run before it is killed and the case fails.
const LIMIT: Duration = Duration::from_secs(20);

/// Retained messages stored on the main broker before any case runs: topic, payload, QoS and
/// extra `mosquitto_pub` arguments. Subscribers on `sbs/#` find them in this order.
const RETAINED: &[(&str, &str, &str, &[&str])] = &[
    ("sbs/a", "hello", "0", &[]),
    (
        "sbs/b",
        "{\"t\":21.5}",
        "1",
        &[
            "-V",
            "5",
            "-D",
            "publish",
            "content-type",
            "text/json",
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
        ],
    ),
    ("sbs/c", "third message", "2", &[]),
];

// ---------------------------------------------------------------------------------------------
// Tools and processes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Pub,
    Sub,
    Rr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Theirs,
    Ours,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Theirs => "theirs",
            Side::Ours => "ours",
        }
    }
}

impl Tool {
    fn mosquitto_name(self) -> &'static str {
        match self {
            Tool::Pub => "mosquitto_pub",
            Tool::Sub => "mosquitto_sub",
            Tool::Rr => "mosquitto_rr",
        }
    }

    fn our_name(self) -> &'static str {
        match self {
            Tool::Pub => "mqtt-pub",
            Tool::Sub => "mqtt-sub",
            Tool::Rr => "mqtt-rr",
        }
    }

    fn program(self, side: Side) -> PathBuf {
        match side {
            Side::Theirs => tool(self.mosquitto_name()),
            Side::Ours => PathBuf::from(match self {
                Tool::Pub => env!("CARGO_BIN_EXE_mqtt-pub"),
                Tool::Sub => env!("CARGO_BIN_EXE_mqtt-sub"),
                Tool::Rr => env!("CARGO_BIN_EXE_mqtt-rr"),
            }),
        }
    }
}

/// What a run printed and how it ended, plus what other clients saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Observed {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// What the case's other clients saw (requests, published messages, wills, retained
    /// messages left behind).
    seen: String,
}

/// A running process whose output is being collected.
struct Running {
    what: String,
    child: Child,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

fn reader(mut stream: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut data = Vec::new();
        let _ = stream.read_to_end(&mut data);
        data
    })
}

/// Starts `program` with a clean environment (`TZ=UTC`, a `HOME` without options files);
/// `stdin` is written then closed (`None`: stdin is /dev/null).
fn spawn(ctx: &Ctx, program: &PathBuf, args: &[String], stdin: Option<&[u8]>) -> Running {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("TZ", "UTC")
        .env("HOME", ctx.home.path())
        .env("XDG_CONFIG_HOME", ctx.home.path())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    if let (Some(data), Some(mut input)) = (stdin, child.stdin.take()) {
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
    }
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    Running {
        what: format!("{} {}", program.display(), args.join(" ")),
        child,
        stdout,
        stderr,
    }
}

impl Running {
    /// Waits for the process (killing it, and saying so in stderr, after [`LIMIT`]).
    fn finish(mut self) -> Observed {
        let deadline = Instant::now() + LIMIT;
        let mut hung = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                // Only this child, by its handle.
                let _ = self.child.kill();
                hung = true;
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stderr = String::from_utf8_lossy(&self.stderr.join().unwrap()).into_owned();
        if hung {
            stderr.push_str(&format!("<killed after {LIMIT:?}: {}>", self.what));
        }
        Observed {
            code: if hung { None } else { status.code() },
            stdout: String::from_utf8_lossy(&self.stdout.join().unwrap()).into_owned(),
            stderr,
            seen: String::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The brokers
// ---------------------------------------------------------------------------------------------

/// A TCP server that accepts connections and never answers (no CONNACK ever comes).
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    held.push(stream);
                }
            }
        });
        Silent {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread up.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Everything the cases share.
struct Ctx {
    /// Anonymous clients allowed; holds [`RETAINED`].
    broker: Mosquitto,
    /// Only `alice`/`secret`, who may use `open/#` only.
    auth: Mosquitto,
    silent: Silent,
    /// A port nothing listens on.
    dead: u16,
    /// `HOME` of every tool, and files for `-f`.
    home: TempDir,
    next: usize,
}

impl Ctx {
    fn start() -> Ctx {
        // Also on a Unix socket, for `--unix`.
        let broker = Mosquitto::with_config(|_, dir| {
            // Mosquitto started as root binds its Unix socket after dropping to the `mosquitto`
            // user, so the socket's directory must be writable by everyone.
            let sockets = dir.join("sockets");
            std::fs::create_dir_all(&sockets).unwrap();
            std::fs::set_permissions(
                &sockets,
                std::os::unix::fs::PermissionsExt::from_mode(0o777),
            )
            .unwrap();
            format!("listener 0 {}\n", sockets.join("mqtt.sock").display())
        });
        let auth = Mosquitto::with_config(|_, dir| {
            let passwd = dir.join("passwd");
            let status = Command::new(tool("mosquitto_passwd"))
                .arg("-c")
                .arg("-b")
                .arg(&passwd)
                .args(["alice", "secret"])
                .status()
                .expect("cannot run mosquitto_passwd");
            assert!(status.success(), "mosquitto_passwd failed");
            let acl = dir.join("acl");
            std::fs::write(&acl, "user alice\ntopic readwrite open/#\n").unwrap();
            format!(
                "allow_anonymous false\npassword_file {}\nacl_file {}\n",
                passwd.display(),
                acl.display()
            )
        });
        let home = TempDir::new("side-by-side-home");
        std::fs::write(home.path().join("payload.txt"), "from a file\n").unwrap();
        let mut ctx = Ctx {
            broker,
            auth,
            silent: Silent::start(),
            dead: free_port(),
            home,
            next: 0,
        };
        for (topic, payload, qos, extra) in RETAINED {
            let mut args = vec!["-t", topic, "-m", payload, "-q", qos, "-r"];
            args.extend_from_slice(extra);
            ctx.mosquitto_pub(&args);
        }
        ctx
    }

    fn unique(&mut self, label: &str) -> String {
        self.next += 1;
        format!("{label}-{}", self.next)
    }

    /// Replaces `{port}`, `{auth}`, `{dead}`, `{silent}` and `{home}` in an argument.
    fn expand(&self, arg: &str) -> String {
        arg.replace("{port}", &self.broker.port().to_string())
            .replace("{auth}", &self.auth.port().to_string())
            .replace("{dead}", &self.dead.to_string())
            .replace("{silent}", &self.silent.port.to_string())
            .replace("{home}", &self.home.path().display().to_string())
            .replace(
                "{unix}",
                &self
                    .broker
                    .dir()
                    .join("sockets/mqtt.sock")
                    .display()
                    .to_string(),
            )
    }

    /// Arguments for the main broker: `-p <port>` first unless the case names a port or URL.
    fn args(&self, args: &[String]) -> Vec<String> {
        let explicit = args.iter().any(|a| a == "-p" || a == "-L");
        let mut full = Vec::new();
        if !explicit {
            full.extend(["-p".to_owned(), self.broker.port().to_string()]);
        }
        full.extend(args.iter().map(|a| self.expand(a)));
        full
    }

    /// Runs `mosquitto_pub` on the main broker and requires success.
    fn mosquitto_pub(&mut self, args: &[&str]) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = spawn(self, &tool("mosquitto_pub"), &self.args(&args), None).finish();
        assert_eq!(out.code, Some(0), "mosquitto_pub {args:?}: {out:?}");
    }

    /// Starts a `mosquitto_sub` with client id `id` and waits until it is subscribed.
    fn watcher(&mut self, id: &str, args: &[&str]) -> Running {
        let mut full: Vec<String> = ["-i", id, "-W", "10"].map(str::to_owned).to_vec();
        full.extend(args.iter().map(|a| a.to_string()));
        let running = spawn(self, &tool("mosquitto_sub"), &self.args(&full), None);
        self.broker.expect_log(&format!("Sending SUBACK to {id}"));
        running
    }

    /// The retained messages under `prefix/#`, as `mosquitto_sub -v` prints them.
    fn retained_under(&mut self, prefix: &str) -> String {
        let id = self.unique("snapshot");
        let filter = format!("{prefix}/#");
        let snapshot = self.watcher(&id, &["-t", &filter, "--retained-only", "-v"]);
        // A live message ends --retained-only.
        self.mosquitto_pub(&["-t", &format!("{prefix}/~end"), "-m", "end"]);
        let out = snapshot.finish();
        assert_eq!(out.code, Some(0), "retained snapshot: {out:?}");
        out.stdout
    }
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

type Steps = Box<dyn Fn(&mut Ctx, Tool, Side) -> Observed>;

enum Run {
    /// Both tools at once with these arguments (and stdin); the broker's state is only read.
    Plain {
        args: Vec<String>,
        stdin: Option<Vec<u8>>,
    },
    /// One tool after the other, through these steps.
    Steps(Steps),
}

struct Case {
    name: String,
    tool: Tool,
    run: Run,
    stdout: bool,
    stderr: bool,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn plain(tool: Tool, args: &[&str]) -> Case {
    Case {
        name: format!("{} {}", tool.our_name(), args.join(" ")),
        tool,
        run: Run::Plain {
            args: strings(args),
            stdin: None,
        },
        stdout: true,
        stderr: true,
    }
}

fn steps(tool: Tool, name: &str, steps: Steps) -> Case {
    Case {
        name: format!("{} {name}", tool.our_name()),
        tool,
        run: Run::Steps(steps),
        stdout: true,
        stderr: true,
    }
}

/// One tool after the other (not at once), so that both may use the same fixed client id:
/// `-d` prints it.
fn sequential(tool: Tool, args: &[&str]) -> Case {
    let args = strings(args);
    steps(
        tool,
        &args.join(" "),
        Box::new(move |ctx, tool, side| {
            spawn(ctx, &tool.program(side), &ctx.args(&args), None).finish()
        }),
    )
}

impl Case {
    /// stdout is not compared (it is the usage text, ours by design).
    fn no_stdout(mut self) -> Case {
        self.stdout = false;
        self
    }
}

/// A subscriber case with live messages: the tool runs with `-i <id>`; once the broker has
/// sent it a SUBACK, each publication of `publish` is made with `mosquitto_pub`.
fn live_sub(args: &[&str], publish: &[&[&str]]) -> Case {
    let args = strings(args);
    let publish: Vec<Vec<String>> = publish.iter().map(|p| strings(p)).collect();
    let name = format!("{} + live {:?}", args.join(" "), publish);
    steps(
        Tool::Sub,
        &name,
        Box::new(move |ctx, tool, side| {
            let id = ctx.unique(&format!("live-{}", side.name()));
            let mut full = vec!["-i".to_owned(), id.clone()];
            full.extend(args.iter().cloned());
            let running = spawn(ctx, &tool.program(side), &ctx.args(&full), None);
            ctx.broker.expect_log(&format!("Sending SUBACK to {id}"));
            for p in &publish {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                ctx.mosquitto_pub(&p);
            }
            running.finish()
        }),
    )
}

/// A publisher case: a `mosquitto_sub -V 5` watching `<topic>` (each message printed with its
/// retain flag, QoS, length, properties and hex payload) sees `messages` messages; with
/// `retained`, the retained message left on the topic is compared too, then cleared.
fn publish(args: &[&str], stdin: Option<&[u8]>, messages: usize, retained: bool) -> Case {
    let args = strings(args);
    let stdin = stdin.map(<[u8]>::to_vec);
    let name = format!(
        "{} (stdin {:?})",
        args.join(" "),
        stdin.as_deref().map(String::from_utf8_lossy)
    );
    steps(
        Tool::Pub,
        &name,
        Box::new(move |ctx, tool, side| {
            let prefix = ctx.unique("pub");
            let topic = format!("{prefix}/t");
            let watcher = (messages > 0).then(|| {
                let id = ctx.unique(&format!("watch-{}", side.name()));
                let count = messages.to_string();
                ctx.watcher(
                    &id,
                    &[
                        "-V",
                        "5",
                        "-t",
                        &topic,
                        "-C",
                        &count,
                        "-F",
                        "%r|%q|%l|%C|%P|%R|%D|%F|%x",
                    ],
                )
            });
            let mut full = Vec::new();
            if !args.iter().any(|a| a == "-L") {
                full.extend(["-t".to_owned(), topic.clone()]);
            }
            full.extend(args.iter().map(|a| a.replace("{topic}", &topic)));
            let mut observed =
                spawn(ctx, &tool.program(side), &ctx.args(&full), stdin.as_deref()).finish();
            if let Some(watcher) = watcher {
                let seen = watcher.finish();
                observed.seen = format!("{} rc={:?}", seen.stdout, seen.code);
            }
            if retained {
                let left = ctx.retained_under(&prefix).replace(&prefix, "<prefix>");
                observed.seen.push_str(&left);
                ctx.mosquitto_pub(&["-t", &topic, "-n", "-r"]);
            }
            observed
        }),
    )
}

/// An `mqtt-rr` case answered by a responder: a `mosquitto_sub -V 5` prints the request it
/// receives (response topic, correlation data, content type, payload), then `mosquitto_pub`
/// publishes `reply` on `resp/<n>`. Without a reply, nobody answers.
fn rr(args: &[&str], reply: Option<&[&str]>) -> Case {
    let args = strings(args);
    let reply = reply.map(strings);
    let name = format!("{} (reply {:?})", args.join(" "), reply);
    steps(
        Tool::Rr,
        &name,
        Box::new(move |ctx, tool, side| {
            let n = ctx.unique(side.name());
            let (request, response) = (format!("req/{n}"), format!("resp/{n}"));
            let responder = reply.as_ref().map(|_| {
                let id = ctx.unique("responder");
                ctx.watcher(
                    &id,
                    &[
                        "-V",
                        "5",
                        "-t",
                        &request,
                        "-C",
                        "1",
                        "-F",
                        "%R|%D|%C|%P|%q|%p",
                    ],
                )
            });
            let id = ctx.unique(&format!("rr-{}", side.name()));
            let mut full = strings(&["-i", &id, "-t", &request, "-e", &response]);
            full.extend(args.iter().cloned());
            let running = spawn(ctx, &tool.program(side), &ctx.args(&full), None);
            let mut seen = String::new();
            if let (Some(responder), Some(reply)) = (responder, &reply) {
                let got = responder.finish();
                seen = got.stdout.replace(&response, "<response topic>");
                let mut answer = strings(&["-V", "5", "-t", &response]);
                answer.extend(reply.iter().cloned());
                let answer: Vec<&str> = answer.iter().map(String::as_str).collect();
                ctx.mosquitto_pub(&answer);
            }
            let mut observed = running.finish();
            observed.seen = seen;
            observed.stdout = observed.stdout.replace(&response, "<response topic>");
            observed.stderr = observed.stderr.replace(&response, "<response topic>");
            observed
        }),
    )
}

/// Every invocation compared.
fn cases() -> Vec<Case> {
    use Tool::{Pub, Sub};
    let mut cases = vec![
        // --- connection options: -d debug lines, --unix, -A, -M, --nodelay, -I ---------------
        sequential(Sub, &["-t", "sbs/a", "-C", "1", "-d", "-i", "dbg-sub"]),
        // One message per read: when several arrive in one read, our debug lines list the packets
        // of the read before the messages are printed, where libmosquitto interleaves them.
        sequential(
            Sub,
            &[
                "-t", "sbs/b", "-C", "1", "-d", "-i", "dbg-sub5", "-V", "5", "-q", "1",
            ],
        ),
        sequential(
            Pub,
            &[
                "-t", "dbg/x", "-m", "hello", "-q", "1", "-d", "-i", "dbg-pub",
            ],
        ),
        sequential(
            Pub,
            &[
                "-t", "dbg/x", "-m", "hi", "-q", "2", "-d", "-i", "dbg-pub5", "-V", "5",
            ],
        ),
        plain(Sub, &["--unix", "{unix}", "-t", "sbs/#", "-C", "3", "-v"]),
        plain(
            Pub,
            &[
                "--unix",
                "{unix}",
                "-t",
                "unix/x",
                "-m",
                "over a unix socket",
            ],
        ),
        plain(Sub, &["-A", "127.0.0.1", "-t", "sbs/#", "-C", "3", "-v"]),
        plain(
            Sub,
            &[
                "-M",
                "5",
                "--nodelay",
                "-t",
                "sbs/#",
                "-C",
                "3",
                "-q",
                "1",
                "-v",
            ],
        ),
        plain(Sub, &["-I", "prefix-", "-t", "sbs/#", "-C", "3", "-v"]),
        plain(
            Pub,
            &[
                "-I",
                "prefix-",
                "-M",
                "3",
                "--nodelay",
                "-t",
                "x/y",
                "-m",
                "z",
                "-q",
                "1",
            ],
        ),
        // --- mosquitto_sub: output formats on the retained messages --------------------------
        plain(Sub, &["-t", "sbs/#", "-C", "3"]),
        plain(Sub, &["-t", "sbs/#", "-C", "3", "-v"]),
        plain(Sub, &["-t", "sbs/#", "-C", "3", "-N"]),
        plain(Sub, &["-t", "sbs/#", "-C", "3", "-v", "-N"]),
        plain(
            Sub,
            &["-t", "sbs/#", "-C", "3", "-F", "%t|%p|%x|%X|%l|%%|\\t"],
        ),
        plain(Sub, &["-t", "sbs/#", "-C", "3", "-F", "%-8t|%10.3p|%08l"]),
        plain(
            Sub,
            &["-t", "sbs/#", "-C", "3", "-q", "1", "-F", "%t %m %q %r"],
        ),
        // QoS 2: libmosquitto hands the message over at PUBREL, after the others.
        plain(
            Sub,
            &[
                "-t", "sbs/#", "-C", "3", "-q", "2", "-V", "5", "-F", "%t %m %q",
            ],
        ),
        plain(
            Sub,
            &["-t", "sbs/#", "-C", "3", "-V", "5", "-F", "%t %C %P %F"],
        ),
        plain(Sub, &["-t", "sbs/#", "-C", "3", "-F", "%j"]),
        plain(
            Sub,
            &["-t", "sbs/#", "-C", "3", "-V", "5", "-F", "%j", "--pretty"],
        ),
        // %J: the payloads that are not JSON are reported on stderr and skipped.
        plain(Sub, &["-t", "sbs/#", "-C", "3", "-V", "5", "-F", "%J"]),
        plain(
            Sub,
            &["-t", "sbs/#", "-C", "3", "-V", "5", "-F", "%J", "--quiet"],
        ),
        // --- protocol versions, filters, counts ------------------------------------------------
        plain(Sub, &["-t", "sbs/#", "-C", "3", "-V", "31", "-v"]),
        plain(Sub, &["-t", "sbs/#", "-C", "3", "-V", "311", "-v"]),
        plain(Sub, &["-t", "sbs/#", "-C", "3", "-V", "mqttv5", "-v"]),
        plain(Sub, &["-t", "sbs/a", "-t", "sbs/c", "-C", "2", "-v"]),
        plain(Sub, &["-t", "sbs/#", "-T", "sbs/b", "-C", "2", "-v"]),
        plain(Sub, &["-t", "sbs/#", "-T", "sbs/+", "-W", "1"]),
        plain(Sub, &["-t", "sbs/#", "-R", "-W", "1"]),
        plain(Sub, &["-t", "sbs/#", "-R", "-W", "1", "-V", "5"]),
        plain(Sub, &["-t", "sbs/#", "--retained-only", "-v", "-W", "1"]),
        plain(Sub, &["-t", "sbs/#", "-U", "sbs/#", "-W", "1"]),
        plain(Sub, &["-t", "sbs/#", "-E"]),
        plain(
            Sub,
            &["-t", "sbs/#", "-C", "3", "--random-filter", "1000", "-v"],
        ),
        plain(
            Sub,
            &[
                "-t",
                "sbs/#",
                "-C",
                "3",
                "-v",
                "-D",
                "connect",
                "user-property",
                "a",
                "b",
                "-D",
                "subscribe",
                "user-property",
                "c",
                "d",
            ],
        ),
        plain(
            Sub,
            &["-L", "mqtt://127.0.0.1:{port}/sbs/a", "-C", "1", "-v"],
        ),
        // --- mosquitto_sub errors ------------------------------------------------------------
        plain(Sub, &["-t", "a/#/b"]),
        plain(Sub, &["-t", "x", "--bogus"]),
        plain(Sub, &["-t", "x", "-q", "3"]),
        plain(Sub, &["-C", "1"]),
        plain(Sub, &["-t", "x", "-F", "%Z"]),
        plain(Sub, &["-t", "x", "-R", "--retained-only"]),
        plain(Sub, &["-p", "{dead}", "-t", "x"]),
        plain(Sub, &["-p", "{auth}", "-t", "x"]),
        plain(Sub, &["-p", "{auth}", "-t", "x", "-V", "5"]),
        plain(
            Sub,
            &[
                "-p", "{auth}", "-t", "x", "-V", "31", "-u", "alice", "-P", "bad",
            ],
        ),
        plain(
            Sub,
            &[
                "-p", "{auth}", "-t", "x", "-u", "alice", "-P", "secret", "-E",
            ],
        ),
        // No CONNACK before -W: mosquitto_sub exits with -1.
        plain(Sub, &["-p", "{silent}", "-t", "x", "-W", "1"]),
        // --- mosquitto_sub with live messages --------------------------------------------------
        live_sub(
            &["-t", "live/q", "-C", "3", "-q", "2", "-F", "%t %p %q %m"],
            &[
                &["-t", "live/q", "-m", "zero", "-q", "0"],
                &["-t", "live/q", "-m", "one", "-q", "1"],
                &["-t", "live/q", "-m", "two", "-q", "2"],
            ],
        ),
        live_sub(
            &["-t", "live/n", "-C", "2", "-N"],
            &[&["-t", "live/n", "-m", "ab"], &["-t", "live/n", "-m", "cd"]],
        ),
        live_sub(
            &["-t", "live/e", "-C", "2", "-v"],
            &[&["-t", "live/e", "-n"], &["-t", "live/e", "-m", "x"]],
        ),
        live_sub(
            &["-t", "sbs/#", "--retained-only", "-v"],
            &[&["-t", "sbs/live", "-m", "not retained"]],
        ),
        live_sub(
            &["-t", "sbs/#", "-R", "-C", "1", "-v"],
            &[&["-t", "sbs/live", "-m", "fresh"]],
        ),
        live_sub(
            &[
                "-t",
                "live/v5",
                "-C",
                "1",
                "-V",
                "5",
                "-F",
                "%C|%P|%R|%D|%F|%p",
            ],
            &[&[
                "-t",
                "live/v5",
                "-m",
                "props",
                "-V",
                "5",
                "-D",
                "publish",
                "content-type",
                "text/plain",
                "-D",
                "publish",
                "user-property",
                "a",
                "b",
                "-D",
                "publish",
                "response-topic",
                "rt",
                "-D",
                "publish",
                "correlation-data",
                "cd",
                "-D",
                "publish",
                "payload-format-indicator",
                "1",
            ]],
        ),
        // (-W: mosquitto_sub 2.0.11 never exits by itself once it has cleared a message.)
        remove_retained(&["-T", "{prefix}/a", "-W", "1", "-v"], None),
        remove_retained(&["-R", "-C", "1", "-v"], Some("{prefix}/c")),
        reconnect("311"),
        reconnect("5"),
        sub_will_on_timeout(),
        // --- mosquitto_pub ---------------------------------------------------------------------
        publish(&["-m", "plain", "-q", "1"], None, 1, false),
        publish(&["-n"], None, 1, false),
        publish(&["-f", "{home}/payload.txt", "-q", "2"], None, 1, false),
        publish(&["-s"], Some(b"from stdin\nwith two lines"), 1, false),
        publish(&["-l", "-q", "1"], Some(b"l1\nl2\n\nl3"), 4, false),
        publish(&["-l"], Some(b"a\r\nb\n"), 2, false),
        publish(&["-l"], Some(b""), 0, false),
        publish(&["-l", "-r"], Some(b"first\nlast\n"), 2, true),
        publish(&["-m", "again", "--repeat", "3"], None, 3, false),
        publish(
            &["-m", "slow", "--repeat", "2", "--repeat-delay", "0.2"],
            None,
            2,
            false,
        ),
        publish(&["-m", "kept", "-r", "-q", "1"], None, 1, true),
        publish(&["-m", "old", "-V", "31"], None, 1, false),
        publish(&["-m", "new", "-V", "5", "-q", "2"], None, 1, false),
        publish(
            &[
                "-m",
                "alias",
                "-D",
                "publish",
                "topic-alias",
                "1",
                "-q",
                "1",
            ],
            None,
            1,
            false,
        ),
        publish(
            &[
                "-m",
                "props",
                "-D",
                "publish",
                "content-type",
                "text/plain",
                "-D",
                "publish",
                "user-property",
                "a",
                "b",
                "-D",
                "publish",
                "response-topic",
                "rt",
                "-D",
                "publish",
                "correlation-data",
                "cd",
                "-D",
                "publish",
                "payload-format-indicator",
                "1",
            ],
            None,
            1,
            false,
        ),
        publish(
            &["-L", "mqtt://127.0.0.1:{port}/{topic}", "-m", "url"],
            None,
            1,
            false,
        ),
        // --- mosquitto_pub errors --------------------------------------------------------------
        plain(Pub, &["-t", "a/#", "-m", "x"]),
        plain(Pub, &["-t", "a", "-m", "x", "-q", "3"]),
        // The usage text on stdout is ours by design.
        plain(Pub, &["-t", "a"]).no_stdout(),
        plain(Pub, &["-t", "a", "-m", "x", "--bogus"]),
        plain(Pub, &["-t", "a", "-m", "x", "-l"]),
        plain(Pub, &["-t", "a", "-f", "/nonexistent/file"]),
        plain(Pub, &["-t", "a", "-m", "x", "-D", "publish", "bogus", "1"]),
        plain(Pub, &["-p", "{dead}", "-t", "a", "-m", "x"]),
        plain(Pub, &["-p", "{auth}", "-t", "a", "-m", "x"]),
        plain(Pub, &["-p", "{auth}", "-t", "a", "-m", "x", "-V", "5"]),
        plain(
            Pub,
            &[
                "-p", "{auth}", "-t", "a", "-m", "x", "-u", "alice", "-P", "bad",
            ],
        ),
        // Denied by the ACL: a warning with the message id, and status 0.
        plain(
            Pub,
            &[
                "-p", "{auth}", "-u", "alice", "-P", "secret", "-t", "closed", "-m", "x", "-q",
                "1", "-V", "5", "--repeat", "2",
            ],
        ),
        // --- mosquitto_rr ----------------------------------------------------------------------
        rr(&["-m", "hello"], Some(&["-m", "world"])),
        rr(&["-m", "hello", "-v"], Some(&["-m", "world"])),
        rr(&["-m", "hello", "-N"], Some(&["-m", "world"])),
        rr(&["-n", "-v"], Some(&["-n"])),
        // mosquitto_rr 2.0.11 never reads the file of -f nor stdin for -s: empty requests.
        rr(&["-f", "{home}/payload.txt"], Some(&["-m", "file"])),
        rr(&["-f", "/nonexistent/file"], Some(&["-m", "file"])),
        rr(
            &["-m", "q1", "-q", "1", "-F", "%t %p %q %m %r"],
            Some(&["-m", "r1", "-q", "1"]),
        ),
        rr(
            &["-m", "q2", "-q", "2", "-F", "%t %p %q %m %r"],
            Some(&["-m", "r2", "-q", "2"]),
        ),
        rr(
            &[
                "-m",
                "c",
                "-D",
                "publish",
                "correlation-data",
                "abc",
                "-F",
                "%C|%P|%D|%p",
            ],
            Some(&[
                "-m",
                "props",
                "-D",
                "publish",
                "content-type",
                "text/plain",
                "-D",
                "publish",
                "user-property",
                "k",
                "v",
                "-D",
                "publish",
                "correlation-data",
                "abc",
            ]),
        ),
        rr(
            &[
                "-m",
                "opts",
                "-k",
                "30",
                "-x",
                "60",
                "-D",
                "connect",
                "user-property",
                "a",
                "b",
                "-D",
                "subscribe",
                "user-property",
                "c",
                "d",
                "-v",
            ],
            Some(&["-m", "answer"]),
        ),
        rr(&["-m", "j", "-F", "%j"], Some(&["-m", "{\"a\":[1,2]}"])),
        rr(
            &["-m", "j", "-F", "%J", "--pretty"],
            Some(&["-m", "{\"a\":[1,2]}"]),
        ),
        rr(&["-m", "j", "-F", "%J"], Some(&["-m", "not json"])),
        // MQTT 3.1.1: no Response Topic on the request; the responder answers anyway.
        rr(&["-m", "old", "-V", "311", "-v"], Some(&["-m", "answer"])),
        plain(
            Tool::Rr,
            &["-t", "req/none", "-e", "resp/none", "-m", "x", "-W", "1"],
        ),
        plain(
            Tool::Rr,
            &[
                "-t",
                "req/none",
                "-e",
                "resp/none",
                "-m",
                "x",
                "-W",
                "1",
                "-V",
                "311",
            ],
        ),
        rr_stale_response(),
        rr_will(),
        rr_lost(),
        plain(Tool::Rr, &["-t", "req", "-e", "resp/#", "-m", "x"]),
        plain(Tool::Rr, &["-t", "req/#", "-e", "resp", "-m", "x"]),
        plain(Tool::Rr, &["-t", "req", "-m", "x"]),
        plain(Tool::Rr, &["-t", "req", "-e", "resp", "-m", "x", "-l"]),
        plain(Tool::Rr, &["-t", "req", "-e", "resp", "-m", "x", "-r"]),
        plain(Tool::Rr, &["-t", "req", "-e", "resp", "-m", "x", "-n"]),
        plain(
            Tool::Rr,
            &[
                "-t",
                "req",
                "-e",
                "resp",
                "-m",
                "x",
                "-D",
                "publish",
                "response-topic",
                "y",
            ],
        ),
        plain(Tool::Rr, &["-t", "req", "-e", "resp", "-m", "x", "-c"]),
        plain(
            Tool::Rr,
            &["-p", "{dead}", "-t", "req", "-e", "resp", "-m", "x"],
        ),
        plain(
            Tool::Rr,
            &["-p", "{auth}", "-t", "req", "-e", "resp", "-m", "x"],
        ),
        // mosquitto_rr words 3.1.1 refusals with the MQTT 5 strings ("Unknown reason").
        plain(
            Tool::Rr,
            &[
                "-p", "{auth}", "-t", "req", "-e", "resp", "-m", "x", "-V", "311",
            ],
        ),
        plain(
            Tool::Rr,
            &[
                "-p", "{silent}", "-t", "req", "-e", "resp", "-m", "x", "-W", "1",
            ],
        ),
    ];
    cases.push(Case {
        name: "mqtt-rr -s".to_owned(),
        tool: Tool::Rr,
        run: Run::Plain {
            args: strings(&["-t", "req", "-e", "resp", "-s", "-W", "1"]),
            stdin: Some(b"request from stdin".to_vec()),
        },
        stdout: true,
        stderr: true,
    });
    cases
}

/// `--remove-retained`: the retained messages under a fresh prefix (`a`, `b`), the tool run
/// with `extra` (where `{prefix}` is that prefix), a live message on `live` if any, then the
/// retained messages left behind.
fn remove_retained(extra: &[&str], live: Option<&str>) -> Case {
    let extra = strings(extra);
    let live = live.map(str::to_owned);
    let name = format!("--remove-retained {}", extra.join(" "));
    steps(
        Tool::Sub,
        &name,
        Box::new(move |ctx, tool, side| {
            let prefix = ctx.unique("rm");
            ctx.mosquitto_pub(&["-t", &format!("{prefix}/a"), "-m", "A", "-r", "-q", "1"]);
            ctx.mosquitto_pub(&["-t", &format!("{prefix}/b"), "-m", "B", "-r", "-q", "1"]);
            let id = ctx.unique(&format!("remover-{}", side.name()));
            let filter = format!("{prefix}/#");
            let mut full = strings(&["-i", &id, "-t", &filter, "--remove-retained"]);
            full.extend(extra.iter().map(|a| a.replace("{prefix}", &prefix)));
            let running = spawn(ctx, &tool.program(side), &ctx.args(&full), None);
            ctx.broker.expect_log(&format!("Sending SUBACK to {id}"));
            if let Some(live) = &live {
                ctx.mosquitto_pub(&["-t", &live.replace("{prefix}", &prefix), "-m", "live"]);
            }
            let mut observed = running.finish();
            observed.seen = ctx.retained_under(&prefix).replace(&prefix, "<prefix>");
            observed.stdout = observed.stdout.replace(&prefix, "<prefix>");
            for topic in ["a", "b"] {
                ctx.mosquitto_pub(&["-t", &format!("{prefix}/{topic}"), "-n", "-r"]);
            }
            observed
        }),
    )
}

/// A subscriber whose session is taken over (another client connects with its client id)
/// reconnects after a second, subscribes again and still counts toward `-C`.
fn reconnect(version: &'static str) -> Case {
    steps(
        Tool::Sub,
        &format!("reconnects after losing the connection (-V {version})"),
        Box::new(move |ctx, tool, side| {
            let id = ctx.unique(&format!("kicked-{}", side.name()));
            let topic = format!("kick/{id}");
            let args = strings(&["-i", &id, "-t", &topic, "-C", "1", "-v", "-V", version]);
            let running = spawn(ctx, &tool.program(side), &ctx.args(&args), None);
            ctx.broker.expect_log(&format!("Sending SUBACK to {id}"));
            // Same client id: the broker closes the subscriber's connection.
            ctx.mosquitto_pub(&["-i", &id, "-t", "kick/other", "-m", "x", "-V", version]);
            ctx.broker.expect_log(&format!("Sending SUBACK to {id}"));
            ctx.mosquitto_pub(&["-t", &topic, "-m", "after the reconnection"]);
            let mut observed = running.finish();
            observed.stdout = observed.stdout.replace(&id, "<id>");
            observed
        }),
    )
}

/// `-W` ends with a DISCONNECT "with Will Message" (MQTT 5): the broker publishes the will.
fn sub_will_on_timeout() -> Case {
    steps(
        Tool::Sub,
        "-W 1 -V 5 --will-topic (the will is published)",
        Box::new(|ctx, tool, side| {
            let will = ctx.unique("will");
            let id = ctx.unique(&format!("will-watch-{}", side.name()));
            let watcher = ctx.watcher(&id, &["-t", &will, "-C", "1", "-v"]);
            let args = strings(&[
                "-t",
                "nothing/here",
                "-V",
                "5",
                "-W",
                "1",
                "--will-topic",
                &will,
                "--will-payload",
                "gone",
            ]);
            let mut observed = spawn(ctx, &tool.program(side), &ctx.args(&args), None).finish();
            let seen = watcher.finish();
            observed.seen = format!(
                "{} rc={:?}",
                seen.stdout.replace(&will, "<will>"),
                seen.code
            );
            observed
        }),
    )
}

/// A retained message on the response topic is printed as the response, even with `-R`
/// (mosquitto_rr 2.0.11 ignores it).
fn rr_stale_response() -> Case {
    steps(
        Tool::Rr,
        "-R with a retained message on the response topic",
        Box::new(|ctx, tool, side| {
            let response = format!("resp/{}", ctx.unique("stale"));
            ctx.mosquitto_pub(&["-t", &response, "-m", "stale", "-r"]);
            let args = strings(&[
                "-t",
                "req/stale",
                "-e",
                &response,
                "-m",
                "x",
                "-R",
                "-W",
                "5",
                "-F",
                "%p %r",
            ]);
            let observed = spawn(ctx, &tool.program(side), &ctx.args(&args), None).finish();
            ctx.mosquitto_pub(&["-t", &response, "-n", "-r"]);
            observed
        }),
    )
}

/// After the response, mosquitto_rr closes the connection without DISCONNECT: the broker
/// publishes the will.
fn rr_will() -> Case {
    steps(
        Tool::Rr,
        "--will-topic (closes without DISCONNECT: the will is published)",
        Box::new(|ctx, tool, side| {
            let n = ctx.unique(side.name());
            let (request, response, will) =
                (format!("req/{n}"), format!("resp/{n}"), format!("will/{n}"));
            let watch_id = ctx.unique("will-watch");
            let watcher = ctx.watcher(&watch_id, &["-t", &will, "-C", "1", "-v"]);
            let responder_id = ctx.unique("responder");
            let responder = ctx.watcher(&responder_id, &["-t", &request, "-C", "1"]);
            let args = strings(&[
                "-t",
                &request,
                "-e",
                &response,
                "-m",
                "x",
                "--will-topic",
                &will,
                "--will-payload",
                "bye",
            ]);
            let running = spawn(ctx, &tool.program(side), &ctx.args(&args), None);
            let _ = responder.finish();
            ctx.mosquitto_pub(&["-t", &response, "-m", "answer"]);
            let mut observed = running.finish();
            let seen = watcher.finish();
            observed.seen = format!(
                "{} rc={:?}",
                seen.stdout.replace(&will, "<will>"),
                seen.code
            );
            observed
        }),
    )
}

/// Another client takes the session over while mosquitto_rr waits for its response.
fn rr_lost() -> Case {
    steps(
        Tool::Rr,
        "loses its connection while waiting",
        Box::new(|ctx, tool, side| {
            let id = ctx.unique(&format!("rr-kicked-{}", side.name()));
            let args = strings(&["-i", &id, "-t", "req/lost", "-e", "resp/lost", "-m", "x"]);
            let running = spawn(ctx, &tool.program(side), &ctx.args(&args), None);
            ctx.broker.expect_log(&format!("Sending SUBACK to {id}"));
            ctx.mosquitto_pub(&["-i", &id, "-t", "kick/other", "-m", "x"]);
            running.finish()
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------

/// Blanks the time of reception in `%j`/`%J` output (`"tst":"..."`, `"tst":\t"..."`).
fn without_tst(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\"tst\":") {
        let (head, tail) = rest.split_at(at + "\"tst\":".len());
        out.push_str(head);
        let tail = tail.trim_start_matches(['\t', ' ']);
        let value_end = tail
            .strip_prefix('"')
            .and_then(|t| t.find('"').map(|end| end + 2))
            .unwrap_or(0);
        out.push_str("<tst>");
        rest = &tail[value_end..];
    }
    out.push_str(rest);
    out
}

fn normalise(side: Side, mut observed: Observed) -> Observed {
    observed.stdout = without_tst(&observed.stdout);
    if side == Side::Theirs {
        for t in [Tool::Pub, Tool::Sub, Tool::Rr] {
            observed.stderr = observed.stderr.replace(t.mosquitto_name(), t.our_name());
        }
    }
    observed
}

/// How many plain cases run at once.
const BATCH: usize = 8;

/// Runs the cases: the plain ones in batches, both tools at once; then the others, one tool
/// after the other. Returns the observations in the order of `cases`.
fn run_all(ctx: &mut Ctx, cases: &[Case]) -> Vec<(Observed, Observed)> {
    let mut results: Vec<Option<(Observed, Observed)>> = cases.iter().map(|_| None).collect();
    let plain: Vec<usize> = (0..cases.len())
        .filter(|&i| matches!(cases[i].run, Run::Plain { .. }))
        .collect();
    for batch in plain.chunks(BATCH) {
        let running: Vec<(usize, Running, Running)> = batch
            .iter()
            .map(|&i| {
                let case = &cases[i];
                let Run::Plain { args, stdin } = &case.run else {
                    unreachable!()
                };
                let full = ctx.args(args);
                let theirs = spawn(
                    ctx,
                    &case.tool.program(Side::Theirs),
                    &full,
                    stdin.as_deref(),
                );
                let ours = spawn(ctx, &case.tool.program(Side::Ours), &full, stdin.as_deref());
                (i, theirs, ours)
            })
            .collect();
        for (i, theirs, ours) in running {
            results[i] = Some((theirs.finish(), ours.finish()));
        }
    }
    for (i, case) in cases.iter().enumerate() {
        if let Run::Steps(steps) = &case.run {
            results[i] = Some((
                steps(ctx, case.tool, Side::Theirs),
                steps(ctx, case.tool, Side::Ours),
            ));
        }
    }
    results.into_iter().map(Option::unwrap).collect()
}

#[test]
fn the_same_invocations_print_the_same_and_exit_the_same() {
    let started = Instant::now();
    let mut ctx = Ctx::start();
    let cases = cases();
    assert!(cases.len() >= 40, "only {} invocations", cases.len());
    let mut failures = Vec::new();
    for (case, (theirs, ours)) in cases.iter().zip(run_all(&mut ctx, &cases)) {
        let theirs = normalise(Side::Theirs, theirs);
        let ours = normalise(Side::Ours, ours);
        let mut differs = Vec::new();
        if theirs.code != ours.code {
            differs.push("exit code");
        }
        if case.stdout && theirs.stdout != ours.stdout {
            differs.push("stdout");
        }
        if case.stderr && theirs.stderr != ours.stderr {
            differs.push("stderr");
        }
        if theirs.seen != ours.seen {
            differs.push("what other clients saw");
        }
        if !differs.is_empty() {
            failures.push(format!(
                "{}: {} differ\n  {}: {theirs:?}\n  {}: {ours:?}",
                case.name,
                differs.join(", "),
                case.tool.mosquitto_name(),
                case.tool.our_name(),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} invocations differ from Mosquitto:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} invocations compared in {:?}",
        cases.len(),
        started.elapsed()
    );
}

#[test]
fn tst_is_blanked() {
    assert_eq!(
        without_tst("{\"tst\":\"2026-01-01T00:00:00.1Z+0000\",\"topic\":\"t\"}"),
        "{\"tst\":<tst>,\"topic\":\"t\"}"
    );
    assert_eq!(
        without_tst("{\n\t\"tst\":\t\"x\",\n\t\"a\":\t1\n}"),
        "{\n\t\"tst\":<tst>,\n\t\"a\":\t1\n}"
    );
}
