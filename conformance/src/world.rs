//! The cucumber `World`: one fake BlueBean server, one mock CRM and any number
//! of softphones per scenario, each on its own free ports, so scenarios run
//! in parallel.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::procs::{Proc, addr_in, bin_dir};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A running softphone under test.
#[derive(Debug)]
pub struct Phone {
    /// The process.
    pub proc: Proc,
    /// Its `--instance` name.
    pub instance: String,
    /// Its settings file.
    pub config: PathBuf,
}

/// The scenario's world.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct BbWorld {
    /// Scratch directory, removed at the end.
    pub dir: PathBuf,
    /// The simulator, its SIP and API addresses.
    pub sim: Option<(Proc, SocketAddr, SocketAddr)>,
    /// The mock CRM and its address.
    pub crm: Option<(Proc, SocketAddr)>,
    /// Softphones by extension.
    pub phones: BTreeMap<String, Phone>,
    /// The simulator's id of the last outside call placed.
    pub last_call: Option<u64>,
    /// HTTP client for the API and the mock CRM.
    pub http: reqwest::Client,
    /// The operator's window and its in-process core, when a scenario opened
    /// one (`bbfeatures`' `steps/ui.rs` owns the type; the library does not depend
    /// on the window).
    pub ui: Option<Box<dyn std::any::Any>>,
    /// The folder of the feature file that runs (set before each
    /// scenario): a team's settings and tenant files are found from it.
    pub feature_dir: Option<PathBuf>,
    /// The origin of a team's own CRM, when `crm` is the recording proxy in
    /// front of it rather than the mock CRM.
    pub crm_forward: Option<String>,
    /// The tenant file the simulator runs, when not the built-in one.
    pub tenant: Option<PathBuf>,
    /// Programs of a team's command hooks that the harness replaces by a
    /// recorder (named after the program's file name).
    pub recorded_programs: Vec<String>,
}

impl Drop for BbWorld {
    fn drop(&mut self) {
        // Processes die with kill_on_drop; the scratch directory goes too.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl BbWorld {
    fn new() -> BbWorld {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("bb-conformance-{}-{n}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("run"));
        BbWorld {
            dir,
            sim: None,
            crm: None,
            phones: BTreeMap::new(),
            last_call: None,
            ui: None,
            feature_dir: None,
            crm_forward: None,
            tenant: None,
            recorded_programs: Vec::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(35))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Starts `bluebean-sim` and the mock CRM on free loopback ports.
    pub async fn start_servers(&mut self) -> Result<(), String> {
        self.start_servers_with(None).await
    }

    /// Starts `bluebean-sim` (with the tenant file `tenant`, else the
    /// built-in tenant) and the mock CRM on free loopback ports.
    pub async fn start_servers_with(
        &mut self,
        tenant: Option<&std::path::Path>,
    ) -> Result<(), String> {
        let bin = bin_dir()?.join("bluebean-sim");
        let mut cmd = Command::new(&bin);
        cmd.args(["--sip", "127.0.0.1:0", "--api", "127.0.0.1:0"]);
        if let Some(t) = tenant {
            cmd.arg("--config").arg(t);
            self.tenant = Some(t.to_path_buf());
        }
        let (sim, line) = Proc::start("bluebean-sim", cmd, Some("bluebean-sim ready")).await?;
        let sip = addr_in(&line, "sip=")?;
        let api = addr_in(&line, "api=")?;
        self.sim = Some((sim, sip, api));
        let mut cmd = Command::new(&bin);
        cmd.args(["crm", "--listen", "127.0.0.1:0"]);
        let (crm, line) = Proc::start("mock CRM", cmd, Some("bluebean-sim crm ready")).await?;
        self.crm = Some((crm, addr_in(&line, "http=")?));
        Ok(())
    }

    /// The simulator's SIP address.
    pub fn sip(&self) -> Result<SocketAddr, String> {
        self.sim
            .as_ref()
            .map(|s| s.1)
            .ok_or_else(|| "the simulator is not running".into())
    }

    /// The simulator's API base URL.
    pub fn api(&self) -> Result<String, String> {
        self.sim
            .as_ref()
            .map(|s| format!("http://{}", s.2))
            .ok_or_else(|| "the simulator is not running".into())
    }

    /// The mock CRM's base URL.
    pub fn crm(&self) -> Result<String, String> {
        self.crm
            .as_ref()
            .map(|c| format!("http://{}", c.1))
            .ok_or_else(|| "the mock CRM is not running".into())
    }

    /// Starts a headless softphone for `ext` (password from the built-in
    /// tenant) with `extra` settings appended, and waits until it registered.
    pub async fn start_phone(&mut self, ext: &str, extra: &str) -> Result<(), String> {
        let config = self.dir.join(format!("bbclient-{ext}.toml"));
        let text = format!(
            "[account]\nserver = \"{}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\n\n{extra}\n",
            self.sip()?
        );
        std::fs::write(&config, text)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let instance = format!("ext{ext}");
        let mut cmd = self.bbclient_cmd(&instance)?;
        cmd.args(["run", "--headless", "--config"]).arg(&config);
        let (proc, _) = Proc::start(&format!("bbclient {ext}"), cmd, None).await?;
        self.phones.insert(
            ext.to_string(),
            Phone {
                proc,
                instance,
                config,
            },
        );
        let api = self.api()?;
        let http = self.http.clone();
        let ext_owned = ext.to_string();
        self.wait_for(&format!("extension {ext} to register"), 15, || {
            let http = http.clone();
            let url = format!("{api}/api/registrations");
            let ext = ext_owned.clone();
            async move {
                let regs: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                regs.as_array()?
                    .iter()
                    .any(|r| r["extension"] == ext.as_str())
                    .then_some(())
            }
        })
        .await
    }

    /// `bbclient --instance INSTANCE` with the scenario's runtime and data
    /// folders and the default log filter.
    pub fn bbclient_cmd(&self, instance: &str) -> Result<Command, String> {
        let mut cmd = Command::new(bin_dir()?.join("bbclient"));
        cmd.env("XDG_RUNTIME_DIR", self.dir.join("run"))
            // Call history and other per-user data stay in the scenario.
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("BBCLIENT_LOG", "info,rsipstack=warn")
            .args(["--instance", instance]);
        Ok(cmd)
    }

    /// Runs `bbclient ARGS` against the phone of `ext`; returns (success, stdout, stderr).
    pub async fn bbclient(
        &self,
        ext: &str,
        args: &[&str],
    ) -> Result<(bool, String, String), String> {
        let phone = self
            .phones
            .get(ext)
            .ok_or_else(|| format!("no softphone for extension {ext}"))?;
        let out = self
            .bbclient_cmd(&phone.instance)?
            .args(args)
            .output()
            .await
            .map_err(|e| format!("cannot run bbclient: {e}"))?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// GET or POST JSON on the simulator's API.
    pub async fn api_call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.api()?);
        let req = match method {
            "POST" => self.http.post(&url).json(&body.unwrap_or(Value::Null)),
            _ => self.http.get(&url),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let v = resp.json().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    /// What the mock CRM received so far.
    pub async fn crm_requests(&self) -> Result<Vec<Value>, String> {
        let url = format!("{}/__mock/requests", self.crm()?);
        let v: Value = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Polls `f` every 50 ms until it gives `Some`, for at most `secs`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, secs: u64, mut f: F) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f().await {
                return Ok(v);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "timed out after {secs} s waiting for {what}\n{}",
                    self.transcripts()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The output of every process, for failure messages.
    pub fn transcripts(&self) -> String {
        let mut s = String::new();
        let procs = self
            .sim
            .iter()
            .map(|x| &x.0)
            .chain(self.crm.iter().map(|x| &x.0))
            .chain(self.phones.values().map(|p| &p.proc));
        for p in procs {
            s.push_str(&format!("--- {} ---\n{}\n", p.name, p.transcript()));
        }
        s
    }

    /// The state of the last outside call, as the simulator sees it.
    pub async fn last_call_state(&self) -> Result<Value, String> {
        let id = self.last_call.ok_or("no outside call was placed")?;
        let (_, v) = self
            .api_call("GET", &format!("/api/calls/{id}"), None)
            .await?;
        Ok(v)
    }
}

/// Helpers for the CTI scenarios (web and command integration).
impl BbWorld {
    /// Like [`BbWorld::start_phone`], with extra environment variables for
    /// `bbclient` (a log filter, …).
    pub async fn start_phone_env(
        &mut self,
        ext: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Result<(), String> {
        let config = self.dir.join(format!("bbclient-{ext}.toml"));
        let text = format!(
            "[account]\nserver = \"{}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\n\n{extra}\n",
            self.sip()?
        );
        std::fs::write(&config, text)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let instance = format!("ext{ext}");
        let mut cmd = self.bbclient_cmd(&instance)?;
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["run", "--headless", "--config"]).arg(&config);
        let (proc, _) = Proc::start(&format!("bbclient {ext}"), cmd, None).await?;
        self.phones.insert(
            ext.to_string(),
            Phone {
                proc,
                instance,
                config,
            },
        );
        self.contact_of(ext).await.map(|_| ())
    }

    /// Starts `bbclient run --headless` for `ext` with `extra` settings and
    /// expects it to stop by itself within 10 s (a refused settings file).
    /// Returns its exit code, stdout and stderr.
    pub async fn run_phone_expecting_exit(
        &self,
        ext: &str,
        extra: &str,
    ) -> Result<(Option<i32>, String, String), String> {
        let config = self.dir.join(format!("bbclient-{ext}-refused.toml"));
        let text = format!(
            "[account]\nserver = \"{}\"\nuser = \"{ext}\"\npassword = \"pw{ext}\"\n\n{extra}\n",
            self.sip()?
        );
        std::fs::write(&config, text)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let mut cmd = self.bbclient_cmd(&format!("refused{ext}"))?;
        cmd.args(["run", "--headless", "--config"])
            .arg(&config)
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(10), cmd.output())
            .await
            .map_err(|_| "bbclient kept running with settings it should refuse".to_string())?
            .map_err(|e| format!("cannot run bbclient: {e}"))?;
        Ok((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Starts a headless softphone for `ext` from an existing settings
    /// file (e.g. one the window saved) and waits until it registered.
    pub async fn start_phone_from(
        &mut self,
        ext: &str,
        config: &std::path::Path,
    ) -> Result<(), String> {
        self.spawn_phone_from(ext, config).await?;
        self.contact_of(ext).await.map(|_| ())
    }

    /// Starts a headless softphone for `ext` from a settings file and does
    /// not wait for anything.
    pub async fn spawn_phone_from(
        &mut self,
        ext: &str,
        config: &std::path::Path,
    ) -> Result<(), String> {
        let instance = format!("ext{ext}");
        let mut cmd = self.bbclient_cmd(&instance)?;
        cmd.args(["run", "--headless", "--config"]).arg(config);
        let (proc, _) = Proc::start(&format!("bbclient {ext}"), cmd, None).await?;
        self.phones.insert(
            ext.to_string(),
            Phone {
                proc,
                instance,
                config: config.to_path_buf(),
            },
        );
        Ok(())
    }

    /// Stops the softphone of `ext` (SIGTERM) and forgets it.
    pub async fn stop_phone(&mut self, ext: &str) {
        if let Some(mut p) = self.phones.remove(ext) {
            p.proc.stop().await;
        }
    }

    /// The control socket of the softphone of `ext`.
    pub fn control_socket(&self, ext: &str) -> Result<PathBuf, String> {
        let phone = self
            .phones
            .get(ext)
            .ok_or_else(|| format!("no softphone for extension {ext}"))?;
        Ok(self
            .dir
            .join("run")
            .join("bbclient")
            .join(format!("{}.sock", phone.instance)))
    }

    /// Subscribes to the control-socket events of the softphone of `ext`
    /// (`{"cmd":"subscribe"}`); every event line is parsed and pushed onto
    /// the returned list as it arrives. Returns once the softphone accepted
    /// the subscription.
    pub async fn subscribe_events(
        &self,
        ext: &str,
    ) -> Result<std::sync::Arc<std::sync::Mutex<Vec<Value>>>, String> {
        let path = self.control_socket(ext)?;
        Self::subscribe_events_at(&path).await
    }

    /// Like [`BbWorld::subscribe_events`], for the softphone listening on
    /// the control socket `path` (one the World did not start, e.g. one
    /// that `bbclient call` started on demand).
    pub async fn subscribe_events_at(
        path: &std::path::Path,
    ) -> Result<std::sync::Arc<std::sync::Mutex<Vec<Value>>>, String> {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"{\"id\":1,\"cmd\":\"subscribe\"}\n")
            .await
            .map_err(|e| format!("cannot subscribe on {}: {e}", path.display()))?;
        let mut lines = tokio::io::BufReader::new(read).lines();
        let reply = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .map_err(|_| "the softphone did not answer the subscription".to_string())?
            .map_err(|e| format!("reading the subscription reply: {e}"))?
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&reply)
            .map_err(|e| format!("subscription reply '{reply}' is not JSON: {e}"))?;
        if v["ok"] != Value::Bool(true) {
            return Err(format!("the softphone refused the subscription: {reply}"));
        }
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = events.clone();
        tokio::spawn(async move {
            let _keep = write;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Ok(mut e) = sink.lock()
                {
                    e.push(v);
                }
            }
        });
        Ok(events)
    }

    /// The address the softphone of `ext` registered at the simulator
    /// (waits up to 15 s for the registration).
    pub async fn contact_of(&self, ext: &str) -> Result<SocketAddr, String> {
        let api = self.api()?;
        let http = self.http.clone();
        self.wait_for(&format!("extension {ext} to register"), 15, || {
            let http = http.clone();
            let url = format!("{api}/api/registrations");
            async move {
                let regs: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                regs.as_array()?.iter().find(|r| r["extension"] == ext)?["contacts"]
                    .as_array()?
                    .iter()
                    .find_map(|c| crate::uac::contact_addr(c["contact"].as_str()?))
            }
        })
        .await
    }
}
