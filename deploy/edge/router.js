// CloudFront Function (cloudfront-js-2.0, viewer request) of the global entry: one hostname for every
// country. /v1/tenants/{tenant_id}/... goes to the tenant's home region, looked up in the KeyValueStore
// the directory keeps in step (tenant id -> region, nothing else); an unknown tenant is a 404 in the
// API's error shape; a path without a tenant goes to the region the console names in X-Enclave-Region
// (the signed-in user's region, or where a new tenant is onboarded), else to the viewer's nearest region.
// The header only picks an origin: each regional API still authorizes and answers 421 off its region.
import cf from 'cloudfront';

const kvs = cf.kvs('__KVS_ID__');
const REGIONS = ['ap-southeast-1', 'ap-southeast-2', 'eu-west-2', 'us-east-1'];
const NEAREST = {
  PH: 'ap-southeast-1', SG: 'ap-southeast-1', MY: 'ap-southeast-1', ID: 'ap-southeast-1', TH: 'ap-southeast-1',
  VN: 'ap-southeast-1', JP: 'ap-southeast-1', KR: 'ap-southeast-1', IN: 'ap-southeast-1', HK: 'ap-southeast-1',
  AU: 'ap-southeast-2', NZ: 'ap-southeast-2',
  GB: 'eu-west-2', IE: 'eu-west-2', FR: 'eu-west-2', DE: 'eu-west-2', NL: 'eu-west-2', ES: 'eu-west-2',
  IT: 'eu-west-2', BE: 'eu-west-2', PT: 'eu-west-2', SE: 'eu-west-2', NO: 'eu-west-2', DK: 'eu-west-2',
};
const DEFAULT_REGION = 'us-east-1';
const TENANT = /^\/v1\/tenants\/(tnt_[a-z2-7]{26})(\/|$)/;

function notFound() {
  return {
    statusCode: 404, statusDescription: 'Not Found',
    headers: { 'content-type': { value: 'application/json' }, 'cache-control': { value: 'no-store' } },
    body: { encoding: 'text', data: JSON.stringify({ error: { code: 'not_found', message: 'no such tenant' } }) },
  };
}

function nearest(request) {
  const named = request.headers['x-enclave-region'];
  if (named && REGIONS.indexOf(named.value) >= 0) return named.value;
  const country = request.headers['cloudfront-viewer-country'];
  return (country && NEAREST[country.value]) || DEFAULT_REGION;
}

async function handler(event) {
  const request = event.request;
  const match = TENANT.exec(request.uri);
  let region = nearest(request);
  if (match) {
    try {
      region = await kvs.get(match[1]);
    } catch (err) {
      return notFound();
    }
    if (REGIONS.indexOf(region) < 0) return notFound();
  }
  cf.selectRequestOriginById('api-' + region);
  return request;
}
