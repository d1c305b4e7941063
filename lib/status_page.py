# status_page.py Provides HTML: the self-contained status page; it reads /api/status every 2 s.
# MIT license

HTML = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>HAN dongle</title>
<style>
body{font:15px system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{background:#234;color:#fff;padding:10px 14px}h1{font-size:18px;margin:0}
main{display:grid;gap:10px;padding:10px;grid-template-columns:repeat(auto-fit,minmax(260px,1fr))}
section{background:#fff;border-radius:8px;padding:10px 14px}h2{font-size:14px;margin:0 0 6px;color:#567}
table{width:100%;border-collapse:collapse}td{padding:2px 0}td:last-child{text-align:right;font-variant-numeric:tabular-nums}
.big{font-size:28px;font-weight:600}.err{color:#b00}
</style></head><body>
<header><h1>HAN dongle <span id="version"></span></h1><div id="meter">waiting for the meter...</div></header>
<main>
<section><h2>Power</h2><div class="big"><span id="net">-</span> W</div><table id="power"></table></section>
<section><h2>Energy</h2><table id="energy"></table></section>
<section><h2>Device</h2><table id="device"></table></section>
</main>
<script>
function rows(id, o){let h="";for(const k in o){h+="<tr><td>"+k+"</td><td>"+(o[k]===null?"-":o[k])+"</td></tr>"}document.getElementById(id).innerHTML=h}
async function tick(){
 try{const s=await (await fetch("/api/status")).json();
  document.getElementById("version").textContent=s.version;
  const m=s.meter;if(m)document.getElementById("meter").textContent=[m.meter_manufacturer,m.meter_type,m.meter_id].join(" ");
  const p=s.power||{};if("active_power_import" in p)document.getElementById("net").textContent=p.active_power_import-(p.active_power_export||0);
  rows("power",p);rows("energy",s.energy||{});
  rows("device",{"last frame (s ago)":s.last_frame_age_s,"frames ok":s.frames.ok,"checksum errors":s.frames.bad_hcs+s.frames.bad_fcs,
   "unknown layout":s.decoder.unknown,"serial":s.serial.framing,"MQTT":s.mqtt.state,"Wi-Fi RSSI":s.rssi,"uptime (s)":s.uptime_s,
   "free memory":s.heap_free,"config":s.config_errors.length?s.config_errors.join("; "):"ok"});
 }catch(e){document.getElementById("meter").textContent="no answer from the dongle"}
}
tick();setInterval(tick,2000);
</script></body></html>
"""
