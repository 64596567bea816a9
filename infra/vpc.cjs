/**
 * `provider.vpc` from the stage parameters `vpcSubnetIds` and `vpcSecurityGroupIds` (comma-separated ids):
 * both set puts every function in that VPC, neither set leaves them out of any VPC (the value is then null,
 * which serverless.yml's fallback turns into "no VPC").
 *
 * Loaded by the framework as a `${file(...)}` variable (CommonJS, because the framework `require()`s it).
 */
'use strict';

function idsOf(value) {
  return String(value ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
}

module.exports = async ({ resolveVariable }) => {
  const subnetIds = idsOf(await resolveVariable('param:vpcSubnetIds'));
  const securityGroupIds = idsOf(await resolveVariable('param:vpcSecurityGroupIds'));
  if (subnetIds.length === 0 && securityGroupIds.length === 0) return null;
  if (subnetIds.length === 0 || securityGroupIds.length === 0) {
    throw new Error('Set both stage parameters vpcSubnetIds and vpcSecurityGroupIds (comma-separated ids), or neither');
  }
  return { subnetIds, securityGroupIds };
};
