# status_page.py Provides HTML: the self-contained status page; it reads /api/status every 2 s and draws the graph.
# MIT license
#
# One request for the page, then only /api/status: the numbers arrive as the JSON's exact decimals
# and are shown as they are. Elements carry the field names of docs/status-api.md as ids.

HTML = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>HAN dongle</title>
<style>
body{font:15px system-ui,sans-serif;margin:0;background:#f2f4f7;color:#1d2630}
header{background:#1f3a56;color:#fff;padding:10px 14px}h1{font-size:18px;margin:0}
#diag{padding:10px 14px;font-weight:600}.ok{background:#dff3e4}.warn{background:#fde9c8}.bad{background:#f9d6d5}
main{display:grid;gap:10px;padding:10px;grid-template-columns:repeat(auto-fit,minmax(280px,1fr))}
section{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0001}
h2{font-size:13px;margin:0 0 6px;color:#56677a;text-transform:uppercase;letter-spacing:.04em}
table{width:100%;border-collapse:collapse}td,th{padding:2px 0;text-align:right;font-variant-numeric:tabular-nums}
td:first-child,th:first-child{text-align:left}.big{font-size:30px;font-weight:650}.unit{color:#56677a;font-size:14px}
svg{width:100%;height:120px;background:#f7f9fb;border-radius:4px}
</style></head><body>
<header><h1>HAN dongle <small id="version"></small></h1>
<div><span id="meter_manufacturer">-</span> <span id="meter_type"></span> &middot; meter <span id="meter_id">-</span></div></header>
<div id="diag" class="warn">Connecting to the dongle...</div>
<main>
<section><h2>Power now</h2>
<div class="big"><span id="net_power">-</span> <span class="unit">W net</span></div>
<table><tr><td>Import</td><td><span id="active_power_import">-</span> W</td></tr>
<tr><td>Export</td><td><span id="active_power_export">-</span> W</td></tr>
<tr><td>Reactive import / export</td><td><span id="reactive_power_import">-</span> / <span id="reactive_power_export">-</span> var</td></tr></table>
<svg id="graph" viewBox="0 0 180 100" preserveAspectRatio="none"><polyline id="line" fill="none" stroke="#1f77b4" stroke-width="1.5" vector-effect="non-scaling-stroke"/></svg>
<div class="unit">Net power, last 15 minutes: <span id="graph_range"></span></div></section>
<section><h2>Phases</h2><table><tr><th></th><th>L1</th><th>L2</th><th>L3</th></tr>
<tr><td>Current (A)</td><td id="current_l1">-</td><td id="current_l2">-</td><td id="current_l3">-</td></tr>
<tr><td>Voltage (V)</td><td id="voltage_l1">-</td><td id="voltage_l2">-</td><td id="voltage_l3">-</td></tr></table></section>
<section><h2>Energy registers (hourly)</h2><table>
<tr><td>Import</td><td><span id="active_energy_import">-</span> kWh</td></tr>
<tr><td>Export</td><td><span id="active_energy_export">-</span> kWh</td></tr>
<tr><td>Reactive import</td><td><span id="reactive_energy_import">-</span> kvarh</td></tr>
<tr><td>Reactive export</td><td><span id="reactive_energy_export">-</span> kvarh</td></tr>
<tr><td>Meter time</td><td id="meter_datetime">-</td></tr></table></section>
<section><h2>Dongle</h2><table>
<tr><td>Last frame</td><td><span id="last_frame_age_s">-</span> s ago</td></tr>
<tr><td>Frames ok</td><td id="frames_ok">-</td></tr>
<tr><td>Checksum errors</td><td id="frames_bad">-</td></tr>
<tr><td>Unknown layout</td><td id="decoder_unknown">-</td></tr>
<tr><td>Serial</td><td id="serial">-</td></tr>
<tr><td>Wi-Fi RSSI</td><td><span id="rssi">-</span> dBm</td></tr>
<tr><td>MQTT</td><td id="mqtt">-</td></tr>
<tr><td>Uptime</td><td><span id="uptime_s">-</span> s</td></tr>
<tr><td>Free memory</td><td><span id="heap_free">-</span> bytes</td></tr>
<tr><td>Config</td><td id="config">-</td></tr></table></section>
</main>
<script>
const $=id=>document.getElementById(id);
function put(id,v){const e=$(id);if(e)e.textContent=(v===null||v===undefined)?"-":v}
function graph(h){
 const v=h.net_power.filter(x=>x!==null);if(!v.length)return;
 let lo=Math.min(0,...v),hi=Math.max(...v,1);const n=h.net_power.length;
 $("line").setAttribute("points",h.net_power.map((x,i)=>x===null?"":i*180/(n-1)+","+(100-(x-lo)*100/(hi-lo))).join(" "));
 put("graph_range",lo+" to "+hi+" W");
}
async function tick(){
 let s;try{s=await (await fetch("/api/status",{cache:"no-store"})).json()}catch(e){put("diag","No answer from the dongle.");$("diag").className="bad";return}
 const p=Object.assign({},s.power_full||{},s.power||{}),m=s.meter||{},en=s.energy||{};
 for(const k in en)put(k,en[k]);for(const k in p)put(k,p[k]);for(const k in m)put(k,m[k]);
 put("net_power",s.net_power);put("version",s.version);put("last_frame_age_s",s.last_frame_age_s);
 put("frames_ok",s.frames.ok);put("frames_bad",s.frames.bad_hcs+s.frames.bad_fcs);put("decoder_unknown",s.decoder.unknown);
 put("serial",s.serial.framing+(s.serial.settled?"":" (trying)"));put("rssi",s.rssi);
 put("mqtt",s.mqtt.state+(s.mqtt.error?" ("+s.mqtt.error+")":""));put("uptime_s",s.uptime_s);put("heap_free",s.heap_free);
 put("config",s.config_errors.length?s.config_errors.join("; "):"ok");
 put("diag",s.diagnosis.message);$("diag").className=s.diagnosis.code=="ok"?"ok":(s.diagnosis.code=="waiting"?"warn":"bad");
 $("diag").dataset.code=s.diagnosis.code;graph(s.history);
}
tick();setInterval(tick,2000);
</script></body></html>
"""
